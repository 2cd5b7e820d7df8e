/* nodes.c - reading the live nodes (/seglog/nodes/<id>); see cluster.h. */
#include "cluster_int.h"

#include "clog.h"

#include <stdlib.h>
#include <string.h>

static int s_cmp(const void *a, const void *b)
{
    const sl_cl_node_t *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* A child name: a decimal id in [1, INT32_MAX] without leading zeros. */
static int32_t s_child_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 10 || s[0] == '0')
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= INT32_MAX ? (int32_t) v : -1;
}

/* All live nodes, sorted, malloc'ed into *out (free it). Arms the
 * membership watch. */
int sl_cl_nodes_read(sl_cluster_t *self, sl_cl_node_t **out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!sl_zk_connected(self->zk))
        return SL_CL_ENOTCONN;
    zhandle_t *zh = sl_zk_handle(self->zk);
    struct String_vector kids = {0, NULL};
    int zrc = zoo_get_children(zh, self->p_nodes, 1, &kids);
    if (zrc != ZOK)
        return sl_cl_zkerr(zrc, "get_children", self->p_nodes);
    sl_cl_node_t *nodes = calloc(kids.count > 0 ? (size_t) kids.count : 1, sizeof *nodes);
    if (!nodes) {
        deallocate_String_vector(&kids);
        return SL_CL_ENOMEM;
    }
    int k = 0, rc = 0;
    for (int i = 0; i < kids.count; i++) {
        char path[SL_ZK_PATH_MAX];
        char buf[2048];
        int len = sizeof buf;
        int32_t id = s_child_id(kids.data[i]);
        if (id < 0) {
            sl_clog(SL_CLOG_WARN, "ignoring znode %s/%.40s: not a node id", self->p_nodes,
                    kids.data[i]);
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", self->p_nodes, kids.data[i]);
        zrc = zoo_get(zh, path, 0, buf, &len, NULL);
        if (zrc == ZNONODE)
            continue; /* left meanwhile */
        if (zrc != ZOK) {
            rc = sl_cl_zkerr(zrc, "get", path);
            break;
        }
        if (sl_cl_node_decode(buf, len, &nodes[k]) < 0 || nodes[k].id != id) {
            sl_clog(SL_CLOG_WARN, "ignoring node %s: its data does not validate", path);
            continue;
        }
        k++;
    }
    deallocate_String_vector(&kids);
    if (rc < 0) {
        free(nodes);
        return rc;
    }
    qsort(nodes, (size_t) k, sizeof *nodes, s_cmp);
    *out = nodes;
    *n = k;
    return 0;
}

int sl_cluster_nodes(sl_cluster_t *self, sl_cl_node_t *out, int cap, int *n)
{
    sl_cl_node_t *all;
    int k;
    int rc = sl_cl_nodes_read(self, &all, &k);
    if (rc < 0)
        return rc;
    for (int i = 0; i < k && i < cap; i++)
        out[i] = all[i];
    *n = k;
    free(all);
    return 0;
}
