/* pids_zk.c - the producer-id counter of a node in ZooKeeper; see
 * sl_cluster_pids_reserve in cluster.h. */
#include "cluster_int.h"

#include "clog.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIDS_CAS_TRIES 16

int sl_cluster_pids_reserve(sl_cluster_t *self, uint64_t next, uint64_t block, uint64_t limit,
                            uint64_t *start, uint64_t *reserved)
{
    if (!sl_zk_connected(self->zk))
        return SL_CL_ENOTCONN;
    zhandle_t *zh = sl_zk_handle(self->zk);
    char parent[SL_ZK_PATH_MAX], path[SL_ZK_PATH_MAX + 16];
    snprintf(parent, sizeof parent, "%s/producer_ids", self->p_root);
    snprintf(path, sizeof path, "%.*s/%d", SL_ZK_PATH_MAX - 1, parent, (int) self->cfg.node_id);
    int zrc = zoo_create(zh, parent, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    if (zrc != ZOK && zrc != ZNODEEXISTS)
        return sl_cl_zkerr(zrc, "create", parent);
    for (int tries = 0; tries < PIDS_CAS_TRIES; tries++) {
        char buf[32];
        int len = sizeof buf - 1;
        struct Stat st;
        uint64_t have = 0;
        int version = -1;
        zrc = zoo_get(zh, path, 0, buf, &len, &st);
        if (zrc == ZOK) {
            buf[len < 0 ? 0 : len] = '\0';
            char *end = NULL;
            have = strtoull(buf, &end, 10);
            if (len <= 0 || *end != '\0' || have >= limit) {
                sl_clog(SL_CLOG_ERROR, "bad data in %s: not a producer-id counter", path);
                return SL_CL_EBADDATA;
            }
            version = st.version;
        } else if (zrc != ZNONODE) {
            return sl_cl_zkerr(zrc, "get", path);
        }
        uint64_t from = have > next ? have : next;
        if (from + block >= limit)
            return SL_CL_EINVAL; /* 2^40 ids used up: not reachable in practice */
        int n = snprintf(buf, sizeof buf, "%" PRIu64, from + block);
        zrc = version < 0 ? zoo_create(zh, path, buf, n, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0)
                          : zoo_set(zh, path, buf, n, version);
        if (zrc == ZNODEEXISTS || zrc == ZBADVERSION || zrc == ZNONODE)
            continue; /* another session of ours raced us: read again */
        if (zrc != ZOK)
            return sl_cl_zkerr(zrc, version < 0 ? "create" : "set", path);
        *start = from;
        *reserved = from + block;
        if (have > next)
            sl_clog(SL_CLOG_WARN, "producer ids: zookeeper's counter (%" PRIu64 ") is ahead of "
                    "this node's (%" PRIu64 "; a new or restored data directory): continuing "
                    "after it", have, next);
        return 0;
    }
    return SL_CL_ESTALE;
}
