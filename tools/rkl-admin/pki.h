/*
 * pki.h - rkl-admin's deployment PKI commands ("ca ...", "kms ..."), kept
 * apart from main.c, which only dispatches to rkl_admin_pki().
 */
#ifndef RKL_ADMIN_PKI_H
#define RKL_ADMIN_PKI_H

#include <stdio.h>

/* 1 if argv names a PKI command (first positional word "ca" or "kms"). */
int rkl_admin_pki_is(int argc, char **argv);

/* Run a PKI command; returns rkl-admin's exit code. */
int rkl_admin_pki(int argc, char **argv);

/* Usage lines of the PKI commands (part of rkl-admin --help). */
void rkl_admin_pki_usage(FILE *f);

#endif
