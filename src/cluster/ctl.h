/*
 * ctl.h - the controller's rule for one topic, as a pure function (tested
 * without ZooKeeper in tests/cluster/test_cluster_meta.c).
 *
 * Given the replica list, the current state and the live nodes:
 *   - leader alive: dead members leave the ISR; leader and epoch unchanged.
 *   - leader dead (or none): the first replica, in replica-list order, that
 *     is in the ISR and alive becomes leader, leader_epoch + 1, and the ISR
 *     keeps only live members. Never a replica outside the ISR (unclean
 *     election is off).
 *   - leader dead and no live ISR member: leader = -1, leader_epoch + 1 (if
 *     it was not -1 already), ISR unchanged: only those replicas hold every
 *     acknowledged record, and the first of them to come back leads.
 * The ISR never becomes empty. controller_epoch is set to ctl_epoch in any
 * new state.
 *
 * Returns 1 and fills *next if the state must change, 0 if not.
 * Thread rules: pure, any thread.
 */
#ifndef SL_CLUSTER_CTL_H
#define SL_CLUSTER_CTL_H

#include "meta.h"

int sl_cl_decide(const int32_t *replicas, int n_replicas, const sl_cl_state_t *cur,
                 const int32_t *live, int n_live, int32_t ctl_epoch, sl_cl_state_t *next);

#endif
