/* Prints without end, 64 KiB at a time, as fast as the console takes it: a guest whose
 * output would fill the host's memory (a console file in /run is RAM) if nothing capped
 * it. Each chunk is lines "flood N ...". */
#include "hf.h"

static char chunk[64 * 1024];

int main(void)
{
	for (uint64_t n = 0;; n++) {
		for (size_t i = 0; i < sizeof(chunk); i += 64) {
			char *l = chunk + i;
			size_t k = 0;
			const char *w = "flood ";
			while (*w)
				l[k++] = *w++;
			uint64_t v = n;
			char d[20];
			int nd = 0;
			do
				d[nd++] = (char)('0' + v % 10);
			while ((v /= 10));
			while (nd)
				l[k++] = d[--nd];
			while (k < 63)
				l[k++] = '.';
			l[63] = '\n';
		}
		hf_write(chunk, sizeof(chunk));
	}
}
