/* libFuzzer target: the control protocol codec (src/api/proto.c). The first byte picks what
 * the rest is parsed as: a request, or the response to one of the commands. A request
 * that parses must survive formatting and parsing again unchanged. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (size < 1)
		return 0;
	const char *line = (const char *)data + 1;
	size_t len = size - 1;
	unsigned pick = data[0] % 7;
	if (pick == 6) {
		struct hf_request req, again;
		if (proto_parse_request(line, len, &req, err, sizeof(err)) < 0)
			return 0;
		char *out = proto_format_request(&req);
		assert(out);
		assert(proto_parse_request(out, strlen(out) - 1, &again, err, sizeof(err)) == 0);
		assert(again.cmd == req.cmd && again.count == req.count && again.pool == req.pool &&
		       !strcmp(again.console, req.console));
		free(out);
		return 0;
	}
	struct hf_response resp;
	if (proto_parse_response((enum hf_cmd)pick, line, len, &resp, err, sizeof(err)) == 0) {
		assert(resp.nclones <= PROTO_FORK_MAX);
		assert(resp.vm.pool_target <= PROTO_POOL_MAX && resp.vm.pid >= 0);
		proto_response_free(&resp);
	}
	return 0;
}
