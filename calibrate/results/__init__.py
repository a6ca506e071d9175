"""What a calibration gives: quality metrics, the result rows, the table and the report with pictures."""
