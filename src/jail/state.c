/* This process's jail (internal.h): the one owner of the state the jail's processes share,
 * filled in by the launcher and the VMM, inherited by the keeper, the VMM and its clones
 * by fork. */
#include "jail/internal.h"

static struct jail_self self = {.ask_fd = -1};

struct jail_self *jail_self(void)
{
	return &self;
}

void jail_self_set_ask_fd(int fd)
{
	self.ask_fd = fd;
}
