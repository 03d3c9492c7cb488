/* The benchmark "function": an expensive initialization (tens of MB of tables computed
 * with libm) then an FFT-class computation checked against itself. Shared by the bare
 * guest (bench/guests/function.c) and the Linux guest tool (guest/tools/hf-function.c).
 * It lives in the guest tree because guest sits below bench (src/LAYERS): bench may
 * include it from here, a guest tool may not reach up into bench. The caller provides
 * fn_alloc() for the tables. */
#ifndef HF_FN_WORKLOAD_H
#define HF_FN_WORKLOAD_H

#include <stdint.h>

double sin(double);
double cos(double);
double exp(double);
double log(double);
double sqrt(double);
double fabs(double);

#define FN_LOG2N 18                 /* FFT size: 2^18 complex points */
#define FN_N (1u << FN_LOG2N)
#define FN_TABLE_MB 32              /* tables built by the initialization */
#define FN_INIT_ROUNDS 12           /* how much work the initialization does */
#define FN_FFT_ROUNDS 8             /* forward+inverse transforms per call */

struct fn_state {
	double *twr, *twi;   /* twiddle factors, N/2 each */
	double *table;       /* the rest of the tables (FN_TABLE_MB in all) */
	uint64_t table_len;
	double *re, *im;     /* work arrays, N each */
	double checksum;     /* of the tables: the same in every run */
};

void *fn_alloc(uint64_t bytes);

/* The initialization: build the tables. */
static inline void fn_init(struct fn_state *s)
{
	uint64_t total = (uint64_t)FN_TABLE_MB << 20;
	s->twr = fn_alloc(FN_N / 2 * sizeof(double));
	s->twi = fn_alloc(FN_N / 2 * sizeof(double));
	s->re = fn_alloc(FN_N * sizeof(double));
	s->im = fn_alloc(FN_N * sizeof(double));
	s->table_len = (total - (uint64_t)FN_N * sizeof(double)) / sizeof(double);
	s->table = fn_alloc(s->table_len * sizeof(double));
	const double pi = 3.14159265358979323846;
	for (uint32_t k = 0; k < FN_N / 2; k++) {
		s->twr[k] = cos(-2 * pi * k / FN_N);
		s->twi[k] = sin(-2 * pi * k / FN_N);
	}
	double sum = 0;
	for (int round = 0; round < FN_INIT_ROUNDS; round++)
		for (uint64_t i = 0; i < s->table_len; i++) {
			double x = (double)(i % 100003) / 100003.0 + round;
			s->table[i] = round ? s->table[i] * 0.5 + sin(x) * exp(-x / 8) : log(1 + x);
			sum += s->table[i];
		}
	s->checksum = sum;
}

static void fn_fft(double *re, double *im, const double *twr, const double *twi, int inverse)
{
	for (uint32_t i = 1, j = 0; i < FN_N; i++) { /* bit reversal */
		uint32_t bit = FN_N >> 1;
		for (; j & bit; bit >>= 1)
			j ^= bit;
		j ^= bit;
		if (i < j) {
			double t = re[i]; re[i] = re[j]; re[j] = t;
			t = im[i]; im[i] = im[j]; im[j] = t;
		}
	}
	for (uint32_t len = 2; len <= FN_N; len <<= 1) {
		uint32_t step = FN_N / len;
		for (uint32_t i = 0; i < FN_N; i += len)
			for (uint32_t k = 0; k < len / 2; k++) {
				double wr = twr[k * step], wi = inverse ? -twi[k * step] : twi[k * step];
				double xr = re[i + k + len / 2], xi = im[i + k + len / 2];
				double tr = xr * wr - xi * wi, ti = xr * wi + xi * wr;
				re[i + k + len / 2] = re[i + k] - tr;
				im[i + k + len / 2] = im[i + k] - ti;
				re[i + k] += tr;
				im[i + k] += ti;
			}
	}
	if (inverse)
		for (uint32_t i = 0; i < FN_N; i++) {
			re[i] /= FN_N;
			im[i] /= FN_N;
		}
}

/* The computation: transforms of table data, each checked by transforming back.
 * Returns the largest round-trip error (small when correct). */
static inline double fn_compute(struct fn_state *s)
{
	double worst = 0;
	for (int r = 0; r < FN_FFT_ROUNDS; r++) {
		for (uint32_t i = 0; i < FN_N; i++) {
			s->re[i] = s->table[(i * 7 + r) % s->table_len];
			s->im[i] = 0;
		}
		fn_fft(s->re, s->im, s->twr, s->twi, 0);
		fn_fft(s->re, s->im, s->twr, s->twi, 1);
		for (uint32_t i = 0; i < FN_N; i++) {
			double e = fabs(s->re[i] - s->table[(i * 7 + r) % s->table_len]) + fabs(s->im[i]);
			if (e > worst)
				worst = e;
		}
	}
	return worst;
}

#endif
