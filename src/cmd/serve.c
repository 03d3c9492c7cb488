/* `hyperfork serve [--listen ADDR:PORT] [--config FILE] [--state-dir DIR] [--jail ...]`. */
#include <getopt.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/admit.h"
#include "hyperfork/abi.h"
#include "jail/jail.h"
#include "serve/serve.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: hyperfork serve [--listen ADDR:PORT] [--config FILE] [--state-dir DIR]\n"
		   "                      [--run-dir DIR] [--reserve-memory MIB]\n"
		   "                      [--jail --uid UID --gid GID] [--credentials FILE]\n"
		   "                      [--runtimes DIR] [--linux DIR] [--code-storage MB]\n"
		   "                      [--init-timeout SECONDS]\n"
		   "\n"
		   "Serve the functions FILE declares behind the AWS Lambda Invoke API\n"
		   "(POST /2015-03-31/functions/NAME/invocations, as `aws lambda invoke\n"
		   "--endpoint-url` and boto3 call it): each function is booted once, initialised\n"
		   "and frozen as a template; every invocation runs in a fresh clone of it.\n"
		   "Functions come from FILE and from the Lambda management API\n"
		   "(`aws lambda create-function --zip-file fileb://app.zip`, boto3): a zip of a\n"
		   "python3.11 or nodejs18.x handler, kept in the state directory.\n"
		   "GET /metrics (Prometheus) and GET /health. SIGINT or SIGTERM ends it.\n"
		   "\n"
		   "  --listen ADDR:PORT  where to listen (default 127.0.0.1:9000; beyond\n"
		   "                      loopback only with --credentials)\n"
		   "  --credentials FILE  invocations must be signed (AWS Signature Version 4,\n"
		   "                      as aws and boto3 sign) with a key FILE holds: lines of\n"
		   "                      ACCESS_KEY_ID SECRET_ACCESS_KEY; others get 403\n"
		   "  --config FILE       functions to serve from the start (JSON; see README,\n"
		   "                      Serving functions); the API cannot change them\n"
		   "  --state-dir DIR     where the API's functions are kept, across restarts\n"
		   "                      (default: in the run directory, for this run only)\n"
		   "  --code-storage MB   what the API's functions' zips may take in all\n"
		   "                      (default 75000, Lambda's 75 GB); beyond it create and\n"
		   "                      update get CodeStorageExceededException\n"
		   "  --init-timeout SECONDS  what a function may take to boot and initialise\n"
		   "                      before it is Failed (default 300)\n"
		   "  --run-dir DIR       where the functions' VMs keep their sockets\n"
		   "  --runtimes DIR      the managed runtimes' images, RUNTIME.img (default:\n"
		   "                      runtimes beside this binary, where `make runtimes`\n"
		   "                      puts them)\n"
		   "  --linux DIR         the guest kernel and initramfs the API's functions boot,\n"
		   "                      DIR/bzImage and DIR/initramfs.cpio (default: linux\n"
		   "                      beside this binary, where `make linux-guest` puts them)\n"
		   "  --reserve-memory MIB  host memory to keep free: an invocation that comes\n"
		   "                      when less is available gets 429 (default 256; 0: off)\n"
		   "  --jail --uid UID --gid GID  run every function's VMs jailed (root only; see\n"
		   "                      `hyperfork run --help`): the first function's as UID and\n"
		   "                      GID, the next one's as UID+1 and GID+1, ...; memory.max\n"
		   "                      covers the function's template, pool and concurrency\n");
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"config", required_argument, NULL, 'c'},
		{"run-dir", required_argument, NULL, 'r'},
		{"reserve-memory", required_argument, NULL, 'm'},
		{"jail", no_argument, NULL, 'j'},
		{"uid", required_argument, NULL, 'u'},
		{"gid", required_argument, NULL, 'g'},
		{"credentials", required_argument, NULL, 'k'},
		{"runtimes", required_argument, NULL, 't'},
		{"state-dir", required_argument, NULL, 's'},
		{"linux", required_argument, NULL, 'x'},
		{"code-storage", required_argument, NULL, 'C'},
		{"init-timeout", required_argument, NULL, 'I'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct serve_opts so = {.listen = "127.0.0.1:9000", .uid = -1, .gid = -1};
	uint64_t reserve_mib = CLONE_LIMITS_RESERVE_DEFAULT_MIB, id, code_mb;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l': so.listen = optarg; break;
		case 'c': so.config_path = optarg; break;
		case 'r': so.run_dir = optarg; break;
		case 'j': so.jail = true; break;
		case 'k': so.credentials = optarg; break;
		case 't': so.runtimes_dir = optarg; break;
		case 's': so.state_dir = optarg; break;
		case 'x': so.linux_dir = optarg; break;
		case 'u':
		case 'g':
			if (parse_uint(optarg, UINT32_MAX - 2, &id) < 0) {
				fprintf(stderr, "hyperfork: error: invalid --%s '%s': a number\n",
					o == 'u' ? "uid" : "gid", optarg);
				return HF_STATUS_ERROR;
			}
			*(o == 'u' ? &so.uid : &so.gid) = (long)id;
			break;
		case 'm':
			if (parse_uint(optarg, 1u << 30, &reserve_mib) < 0) {
				fprintf(stderr, "hyperfork: error: invalid --reserve-memory '%s': MiB, "
					"0 or more\n", optarg);
				return HF_STATUS_ERROR;
			}
			break;
		case 'C':
			if (parse_uint(optarg, 1u << 30, &code_mb) < 0 || !code_mb) {
				fprintf(stderr, "hyperfork: error: invalid --code-storage '%s': MB, "
					"1 or more\n", optarg);
				return HF_STATUS_ERROR;
			}
			so.code_storage_bytes = code_mb * 1000000;
			break;
		case 'I':
			if (parse_uint(optarg, 86400, &id) < 0 || !id) {
				fprintf(stderr, "hyperfork: error: invalid --init-timeout '%s': seconds, "
					"1 to 86400\n", optarg);
				return HF_STATUS_ERROR;
			}
			so.init_timeout_s = (unsigned)id;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return HF_STATUS_ERROR;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "hyperfork: error: serve takes no arguments but its options\n");
		usage(stderr);
		return HF_STATUS_ERROR;
	}
	const char *jail_err = so.jail			   ? jail_user_problem(so.uid, so.gid)
			       : so.uid >= 0 || so.gid >= 0 ? "--uid and --gid are for --jail"
							    : NULL;
	if (jail_err) {
		fprintf(stderr, "hyperfork: error: serve: %s\n", jail_err);
		return HF_STATUS_ERROR;
	}
	so.reserve_bytes = reserve_mib << 20;
	return serve_run(&so);
}
