/*
 * optim.h - what the optimizer's files share: the optimizer's struct, the
 * per-tensor step a rule's kernel gets, and the rule table.
 *
 *   optim.c       the state arena, parameter groups, penalties and the step
 *                 loop, which knows no optimizer by name
 *   rules.c       one update rule per optimizer (its checks, state slots and
 *                 kernel) and gg_optim_rules, the table of them
 *   lbfgs_step.c  L-BFGS as a per-step optimizer (a whole-model rule)
 *
 * Not installed; only src/optim includes it.
 */
#ifndef GG_OPTIM_H
#define GG_OPTIM_H

#include "core/error.h"
#include "core/reduce.h"
#include "gradguard.h"

#include <stddef.h>
#include <stdint.h>

/* One parameter tensor as the optimizer sees it. */
typedef struct gg_optim_tensor {
    const char *name; /* owned by the graph */
    size_t off;       /* into the parameter and gradient arenas */
    size_t n;
    size_t soff;      /* into the state arena */
    int no_decay;
    float lr_scale, wd, l1, l2; /* resolved from the defaults and the groups */
    float run_scale;            /* set while training (gg_optim_set_tensor_lr); groups leave it */
} gg_optim_tensor;

typedef struct gg_optim_group {
    char pattern[2 * GG_NAME_MAX];
    float lr_scale, wd, l1, l2;
} gg_optim_group;

typedef struct gg_optim_rule gg_optim_rule;

struct gg_optim {
    gg_graph *g;
    gg_optim_config c;
    const gg_optim_rule *rule; /* gg_optim_rules[c.kind] */
    int nt;
    gg_optim_tensor *t;
    int slots;        /* state vectors per tensor */
    float *state;
    size_t nstate;
    size_t tail;      /* start of the counts (or of a whole-model rule's scalars) */
    double *unorm;    /* update norm per tensor, last step it was measured */
    int norms_every_step; /* 0: lazy_norms rules measure them only when asked (gg_optim_want_update_norms) */
    int norms_wanted;
    int bad_update;   /* first tensor whose last update was not finite, -1 none */
    double *scratch;  /* a whole-model rule's own (L-BFGS: the two-loop coefficients) */
    uint64_t steps;
    float l1, l2;     /* default penalties of decayed tensors */
    gg_optim_group *groups;
    int ngroups;
};

/* One tensor's update, as the step loop hands it to a rule's kernel. */
typedef struct gg_optim_update {
    float *p;       /* p, g: (n) in the parameter and gradient arenas */
    const float *g;
    float *s;       /* the tensor's state block, slots vectors of n; NULL when the rule keeps none */
    long n;
    float lr;       /* the step's rate times the tensor's group lr_scale */
    float wd;       /* the tensor's weight decay (0 for no-decay tensors) */
    double step;    /* the tensor's own step number, 1 on its first step (PyTorch's state['step']) */
    int measure;    /* 0: a lazy_norms kernel returns only 0, or NaN when the update is not finite */
} gg_optim_update;

/* An optimizer: a row of gg_optim_rules, indexed by its gg_optim_kind. */
struct gg_optim_rule {
    const char *name;              /* optimizer.name in configs, gg_optim_name */
    float lr, weight_decay, eps;   /* defaults (eps 0: the common 1e-8); gg_optim_defaults sets the rest */
    /* the kind's own fields; lr and weight_decay are checked for every kind.
     * Messages through gg_optim_bad_field. NULL: nothing more to check. */
    gg_status (*check)(const gg_optim_config *c);
    int (*slots)(const gg_optim_config *c); /* state vectors per tensor; NULL: none */
    float (*initial)(const gg_optim_config *c); /* the state's first value; NULL: 0 */
    /* Per-tensor rules: updates u->p (and the state) in one pass and returns
     * the squared L2 norm of the change of p, accumulated in double. */
    double (*update)(const gg_optim_config *c, const gg_optim_update *u);
    int lazy_norms; /* update honours u->measure == 0 (gg_optim_set_update_norms) */
    /* Whole-model rules (their state couples every tensor; no per-tensor
     * step counts; a reset clears it all): */
    gg_status (*setup)(gg_optim *o);   /* after the layout: sets o->nstate, allocates o->scratch */
    void (*step_all)(gg_optim *o, float lr, float *P, const float *G); /* sets o->unorm */
    /* refuses group settings the rule cannot honour; NULL: all fine */
    gg_status (*check_group)(const gg_optim *o, const char *pattern, float lr_scale, float weight_decay);
};

/* one row per gg_optim_kind; its size is checked where it is defined */
extern const gg_optim_rule gg_optim_rules[];

/* "optimizer NAME: FIELD = V WANT" (GG_E_ARG). */
gg_status gg_optim_bad_field(const gg_optim_config *c, const char *field, double v, const char *want);
/* lo <= v <= hi (v < hi if hi_open) and finite, else gg_optim_bad_field. */
gg_status gg_optim_check_range(const gg_optim_config *c, const char *field, float v, double lo, double hi,
                               int hi_open, const char *want);

/* L-BFGS's row (lbfgs_step.c). */
gg_status gg_lbfgs_check(const gg_optim_config *c);
int gg_lbfgs_slots(const gg_optim_config *c);
gg_status gg_lbfgs_setup(gg_optim *o);
void gg_lbfgs_step(gg_optim *o, float lr, float *P, const float *G);
gg_status gg_lbfgs_check_group(const gg_optim *o, const char *pattern, float lr_scale, float weight_decay);

#endif
