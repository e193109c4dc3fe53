-- Outside the modules folder: require must never reach this file.
return "secret"
