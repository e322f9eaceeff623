/* mem.c - how much memory this machine can give the process, so a model
 * too large for it is refused while planning, with its size, instead of
 * being allocated lazily and then killed by the kernel's OOM killer when
 * the first step touches the pages. */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* The limit of a cgroup v2 (a container's memory.max), or 0 if none. */
static uint64_t cgroup_limit(void)
{
    FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
    if (!f) return 0;
    char line[64];
    uint64_t v = 0;
    if (fgets(line, sizeof line, f)) {
        char *end;
        unsigned long long x = strtoull(line, &end, 10);
        if (end != line && (*end == '\n' || *end == 0)) v = (uint64_t)x; /* "max" means none */
    }
    fclose(f);
    return v;
}

uint64_t gg_mem_physical(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t m = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : UINT64_MAX;
    uint64_t c = cgroup_limit();
    if (c && c < m) m = c;
    /* an address-space limit (ulimit -v) makes malloc fail, which is already
     * a clear error; it is counted so that the message names the right limit */
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (uint64_t)rl.rlim_cur < m)
        m = (uint64_t)rl.rlim_cur;
    return m;
}
