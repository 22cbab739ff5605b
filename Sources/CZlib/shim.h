// Brings zlib's inflate API into Swift for reading gzip-compressed IDX data sets.
#pragma once
#include <zlib.h>
