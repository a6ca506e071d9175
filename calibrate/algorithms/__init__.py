"""The calibration algorithms: IFMR and HFMG (one module each, their helpers beside them) and the observer contract both implement. What they produce is kvcal.calibrate.factors."""
