// Brings OpenBLAS's CBLAS interface and its thread controls (openblas_set_num_threads) into Swift.
#pragma once
#include <cblas.h>
