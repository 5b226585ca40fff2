// liblz4 (Debian: liblz4-dev): the block compressor of the lsm engine's tables.
#include <lz4.h>
