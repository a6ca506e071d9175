"""The calibration algorithms: IFMR and HFMG (one module each, their helpers beside them), the observer contract both implement, the factors they produce."""
