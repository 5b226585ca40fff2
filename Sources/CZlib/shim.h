// zlib (Debian's zlib1g-dev), for the tests that decode the PNGs gnuplot draws.
#include <zlib.h>
