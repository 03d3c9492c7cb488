/* `hyperfork serve [--listen ADDR:PORT] --config FILE [--run-dir DIR]`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "hyperfork/abi.h"
#include "serve/serve.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: hyperfork serve [--listen ADDR:PORT] --config FILE [--run-dir DIR]\n"
		   "                      [--reserve-memory MIB]\n"
		   "\n"
		   "Serve the functions FILE declares behind the AWS Lambda Invoke API\n"
		   "(POST /2015-03-31/functions/NAME/invocations, as `aws lambda invoke\n"
		   "--endpoint-url` and boto3 call it): each function is booted once, initialised\n"
		   "and frozen as a template; every invocation runs in a fresh clone of it.\n"
		   "GET /metrics (Prometheus) and GET /health. SIGINT or SIGTERM ends it.\n"
		   "\n"
		   "  --listen ADDR:PORT  where to listen (default 127.0.0.1:9000)\n"
		   "  --config FILE       the functions (JSON; see README, Serving functions)\n"
		   "  --run-dir DIR       where the functions' VMs keep their sockets\n"
		   "  --reserve-memory MIB  host memory to keep free: an invocation that comes\n"
		   "                      when less is available gets 429 (default 256; 0: off)\n");
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"config", required_argument, NULL, 'c'},
		{"run-dir", required_argument, NULL, 'r'},
		{"reserve-memory", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *listen = "127.0.0.1:9000", *config = NULL, *dir = NULL;
	uint64_t reserve_mib = CLONE_LIMITS_RESERVE_DEFAULT_MIB;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l': listen = optarg; break;
		case 'c': config = optarg; break;
		case 'r': dir = optarg; break;
		case 'm':
			if (parse_uint(optarg, 1u << 30, &reserve_mib) < 0) {
				fprintf(stderr, "hyperfork: error: invalid --reserve-memory '%s': MiB, "
					"0 or more\n", optarg);
				return HF_STATUS_ERROR;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return HF_STATUS_ERROR;
		}
	}
	if (!config || optind != argc) {
		fprintf(stderr, "hyperfork: error: serve needs --config FILE%s\n",
			optind != argc ? " and no other arguments" : "");
		usage(stderr);
		return HF_STATUS_ERROR;
	}
	return serve_run(listen, config, dir, reserve_mib << 20);
}
