-- The lumi version string.
return "0.1.0"
