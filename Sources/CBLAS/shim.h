// Brings OpenBLAS's CBLAS interface and its thread controls (openblas_set_num_threads) into Swift.
#pragma once
#include <cblas.h>

// LAPACK's symmetric eigensolver (divide and conquer). OpenBLAS exports it, but Debian's OpenBLAS include directory
// has no lapack.h, so the Fortran prototype is declared here. Density fitting (PCA, the feature covariance) needs it.
// The trailing hidden string-length arguments of gfortran are omitted: both strings are one character and the
// routine reads only their first byte.
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info);
