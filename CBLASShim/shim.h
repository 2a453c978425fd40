#ifndef TENSORLSTM_CBLAS_SHIM_H
#define TENSORLSTM_CBLAS_SHIM_H
// The one C boundary of TensorLSTM: OpenBLAS's CBLAS (plus its thread
// control) and LAPACKE. Only Sources/TensorLSTM/BLAS/BLAS+CBLAS.swift
// imports this module.
#include <cblas.h>
#include <lapacke.h>
#endif
