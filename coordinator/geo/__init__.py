"""Geography: Guiyang's districts (GB/T 2260 codes, as CAP geocodes carry them) and distances."""
