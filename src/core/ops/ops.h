/* ops.h - forward/backward/workspace functions of every op family, for the
 * op table. Each family's file keeps its functions side by side. */
#ifndef GG_OPS_H
#define GG_OPS_H

#include "../core.h"

#define GG_OP_FNS(p)                                                                                                   \
    void p##_fwd(gg_graph *g, gg_tensor *t);                                                                           \
    void p##_bwd(gg_graph *g, gg_tensor *t);
#define GG_OP_WS(p) size_t p##_ws(const gg_graph *g, const gg_tensor *t);

void gg_nop(gg_graph *g, gg_tensor *t);
GG_OP_FNS(gg_linear) GG_OP_WS(gg_linear)
GG_OP_FNS(gg_matmul)
GG_OP_FNS(gg_add)
GG_OP_FNS(gg_mul)
GG_OP_FNS(gg_scale)
GG_OP_FNS(gg_sum)
GG_OP_FNS(gg_act_op)
GG_OP_FNS(gg_xent) GG_OP_WS(gg_xent)
GG_OP_FNS(gg_xent_soft)
GG_OP_FNS(gg_bce)
GG_OP_FNS(gg_mse)
GG_OP_FNS(gg_huber)
void gg_accuracy_fwd(gg_graph *g, gg_tensor *t);
GG_OP_FNS(gg_conv2d) GG_OP_WS(gg_conv2d)
GG_OP_FNS(gg_maxpool) GG_OP_WS(gg_maxpool)
GG_OP_FNS(gg_avgpool)
GG_OP_FNS(gg_global_avgpool)
GG_OP_FNS(gg_concat)
GG_OP_FNS(gg_slice)
GG_OP_FNS(gg_softmax)
GG_OP_FNS(gg_log_softmax)
GG_OP_FNS(gg_batchnorm) GG_OP_WS(gg_batchnorm)
GG_OP_FNS(gg_layernorm) GG_OP_WS(gg_layernorm)
GG_OP_FNS(gg_dropout)
GG_OP_FNS(gg_embedding)
GG_OP_FNS(gg_rnn) GG_OP_WS(gg_rnn)
GG_OP_FNS(gg_attention) GG_OP_WS(gg_attention)

#endif
