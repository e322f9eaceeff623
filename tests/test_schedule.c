/* Learning-rate schedules at chosen steps against values worked out by hand
 * (the arithmetic is in the comments), warm-up, cosine with restarts,
 * one-cycle, reduce-on-plateau with patience, cooldown and min_lr, and the
 * messages for bad settings. */
#include "gradguard.h"
#include "gt.h"

#include <string.h>

static gg_schedule S;

static void init(gg_schedule_config c)
{
    GT_OK(gg_schedule_init(&S, &c));
}

#define AT(step, want)                                                                                                 \
    GT_NEAR(gg_schedule_lr(&S, step), want, 1e-6, 1e-9, "%s at step %ld", gg_sched_name(S.c.kind), (long)(step))

static void test_simple(void)
{
    gg_schedule_config c = gg_schedule_defaults(GG_SCHED_CONSTANT, 0.1f);
    init(c);
    AT(0, 0.1);
    AT(123456, 0.1);
    AT(-5, 0.1);
    GT_CHECK(gg_schedule_observe(&S, 1.0) == 0, "observe is a no-op for constant");

    /* step: 0.1 * 0.5^floor(k / 3) */
    c = gg_schedule_defaults(GG_SCHED_STEP, 0.1f);
    c.step_size = 3;
    c.gamma = 0.5f;
    init(c);
    AT(0, 0.1);
    AT(2, 0.1);
    AT(3, 0.05);
    AT(5, 0.05);
    AT(6, 0.025);

    /* multistep, milestones 2 and 5: 1 before 2, 0.1 from 2, 0.01 from 5 */
    c = gg_schedule_defaults(GG_SCHED_MULTISTEP, 1);
    c.milestones[0] = 2;
    c.milestones[1] = 5;
    c.n_milestones = 2;
    init(c);
    AT(0, 1);
    AT(1, 1);
    AT(2, 0.1);
    AT(4, 0.1);
    AT(5, 0.01);
    AT(1000, 0.01);

    /* exponential: 0.9^3 = 0.729 */
    c = gg_schedule_defaults(GG_SCHED_EXPONENTIAL, 1);
    c.gamma = 0.9f;
    init(c);
    AT(0, 1);
    AT(3, 0.729);
}

static void test_cosine(void)
{
    /* T = 10, lr 1, min 0.1: 0.1 + 0.45 (1 + cos(pi k / 10)) */
    gg_schedule_config c = gg_schedule_defaults(GG_SCHED_COSINE, 1);
    c.total_steps = 10;
    c.min_lr = 0.1f;
    init(c);
    AT(0, 1);
    AT(2, 0.9140576474687263); /* 0.1 + 0.45 (1 + cos(0.2 pi)) = 0.1 + 0.45 * 1.809017 */
    AT(5, 0.55);
    AT(10, 0.1);
    AT(25, 0.1); /* held at min_lr after T */

    /* restarts every 4 steps */
    c.t0 = 4;
    init(c);
    AT(0, 1);
    AT(2, 0.55);
    AT(4, 1);
    AT(6, 0.55);
    AT(402, 0.55);

    /* t0 2, t_mult 2: periods [0,2) [2,6) [6,14) [14,30) */
    c.t0 = 2;
    c.t_mult = 2;
    init(c);
    AT(1, 0.55);
    AT(2, 1);
    AT(4, 0.55);  /* 2 of 4 */
    AT(5, 0.2318019484660536); /* 3 of 4: 0.1 + 0.45 (1 + cos(3 pi / 4)) */
    AT(6, 1);
    AT(10, 0.55); /* 4 of 8 */
    AT(13, 0.13425421036992097); /* 7 of 8: 0.1 + 0.45 (1 + cos(7 pi / 8)) */
    AT(14, 1);
    AT(22, 0.55); /* 8 of 16 */
    AT(30, 1);
}

static void test_onecycle(void)
{
    /* lr 1, T 10, pct 0.3: up from 1/25 = 0.04 over steps 0..2 (end 0.3 * 10 - 1 = 2),
     * then down to 0.04 / 1e4 = 4e-6 at step 9 */
    gg_schedule_config c = gg_schedule_defaults(GG_SCHED_ONECYCLE, 1);
    c.total_steps = 10;
    init(c);
    AT(0, 0.04);
    AT(1, 0.52); /* 1 + (0.04 - 1) * 0.5 * (1 + cos(pi / 2)) */
    AT(2, 1);
    AT(5, 0.6112620219362893); /* 4e-6 + (1 - 4e-6) * 0.5 * (1 + cos(3 pi / 7)) */
    AT(9, 4e-6);
    AT(50, 4e-6);
}

static void test_warmup(void)
{
    /* constant 0.1 after 4 warm-up steps from 0.25 of it: 0.1 (0.25 + 0.75 k / 4) */
    gg_schedule_config c = gg_schedule_defaults(GG_SCHED_CONSTANT, 0.1f);
    c.warmup_steps = 4;
    c.warmup_start = 0.25f;
    init(c);
    AT(0, 0.025);
    AT(2, 0.0625);
    AT(3, 0.08125);
    AT(4, 0.1);
    /* warm-up in front of a cosine: total_steps counts it, the cosine spans 10 steps */
    c = gg_schedule_defaults(GG_SCHED_COSINE, 1);
    c.total_steps = 14;
    c.min_lr = 0.1f;
    c.warmup_steps = 4;
    init(c);
    AT(0, 0);
    AT(1, 0.25);
    AT(4, 1);
    AT(9, 0.55);
    AT(14, 0.1);
    /* and in front of a step schedule: it starts counting after the warm-up */
    c = gg_schedule_defaults(GG_SCHED_STEP, 1);
    c.step_size = 3;
    c.gamma = 0.5f;
    c.warmup_steps = 2;
    init(c);
    AT(1, 0.5);
    AT(4, 1);
    AT(5, 0.5);
}

static void test_plateau(void)
{
    gg_schedule_config c = gg_schedule_defaults(GG_SCHED_PLATEAU, 1);
    c.factor = 0.5f;
    c.patience = 2;
    c.cooldown = 1;
    c.min_lr = 0.2f;
    c.threshold = 0.1f;
    init(c);
    AT(0, 1);
    GT_CHECK(gg_schedule_observe(&S, 1.0) == 0, "first metric is an improvement");
    /* 0.95 is not below 1.0 * (1 - 0.1): bad epochs 1, 2, 3 > patience -> 0.5 */
    GT_CHECK(gg_schedule_observe(&S, 0.95) == 0, "bad 1");
    GT_CHECK(gg_schedule_observe(&S, 0.95) == 0, "bad 2");
    AT(100, 1);
    GT_CHECK(gg_schedule_observe(&S, 0.95) == 1, "bad 3 reduces");
    AT(100, 0.5);
    /* cooldown: the next bad epoch is not counted, so three more are needed */
    GT_CHECK(gg_schedule_observe(&S, 0.95) == 0, "cooldown");
    GT_CHECK(S.cooldown_left == 0 && S.bad_epochs == 0, "cooldown %d bad %d", S.cooldown_left, S.bad_epochs);
    GT_CHECK(gg_schedule_observe(&S, 0.95) == 0, "bad 1 after cooldown");
    GT_CHECK(gg_schedule_observe(&S, 0.95) == 0, "bad 2 after cooldown");
    GT_CHECK(gg_schedule_observe(&S, 0.95) == 1, "bad 3 after cooldown reduces");
    AT(100, 0.25);
    /* a real improvement (0.5 < 0.9 * 0.9 ...) resets the count */
    GT_CHECK(gg_schedule_observe(&S, 0.5) == 0, "improvement");
    GT_NEAR(S.best, 0.5, 0, 0, "best");
    GT_CHECK(gg_schedule_observe(&S, NAN) == 0, "NaN is a bad epoch");
    GT_CHECK(gg_schedule_observe(&S, 0.5) == 0, "bad 2");
    /* 0.25 * 0.5 = 0.125 is under min_lr 0.2 */
    GT_CHECK(gg_schedule_observe(&S, 0.49) == 1, "bad 3 reduces to min_lr");
    AT(100, 0.2);
    for (int i = 0; i < 3; i++) gg_schedule_observe(&S, 0.5);
    GT_CHECK(gg_schedule_observe(&S, 0.5) == 0, "at min_lr nothing changes");
    AT(100, 0.2);
    GT_CHECK(S.seen == 16, "seen %d", S.seen);

    /* max mode (accuracy), patience 0: any epoch that is not 1% better reduces */
    c = gg_schedule_defaults(GG_SCHED_PLATEAU, 0.1f);
    c.mode_max = 1;
    c.patience = 0;
    c.threshold = 0.01f;
    init(c);
    GT_CHECK(gg_schedule_observe(&S, 0.5) == 0, "max: first");
    GT_CHECK(gg_schedule_observe(&S, 0.6) == 0, "max: better");
    GT_CHECK(gg_schedule_observe(&S, 0.605) == 1, "max: 0.605 < 0.606 is not better");
    AT(0, 0.01);
}

static void expect_bad(gg_schedule_config c, const char *n1, const char *n2)
{
    gg_schedule s;
    gg_status st = gg_schedule_init(&s, &c);
    GT_CHECK(st == GG_E_ARG, "accepted a config that should fail with '%s'", n1);
    GT_CHECK(strstr(gg_errmsg(), n1) && strstr(gg_errmsg(), n2), "message '%s' lacks '%s' / '%s'", gg_errmsg(), n1,
             n2);
}

static void test_bad(void)
{
    gg_schedule_config c = gg_schedule_defaults(GG_SCHED_STEP, 0.1f);
    expect_bad(c, "step_size = 0", "> 0");
    c.step_size = 10;
    c.gamma = 0;
    expect_bad(c, "gamma = 0", "step");
    c = gg_schedule_defaults(GG_SCHED_MULTISTEP, 0.1f);
    expect_bad(c, "n_milestones = 0", "multistep");
    c.n_milestones = 2;
    c.milestones[0] = 5;
    c.milestones[1] = 3;
    expect_bad(c, "milestones must increase", "milestones[1] = 3");
    c.milestones[0] = 0;
    expect_bad(c, "milestones[0] = 0", "> 0");
    c = gg_schedule_defaults(GG_SCHED_COSINE, 0.1f);
    expect_bad(c, "total_steps = 0", "cosine");
    c.total_steps = 100;
    c.min_lr = 0.5f;
    expect_bad(c, "min_lr = 0.5", "[0, lr]");
    c.min_lr = 0;
    c.t0 = 10;
    c.t_mult = 0.5f;
    expect_bad(c, "t_mult = 0.5", ">= 1");
    c = gg_schedule_defaults(GG_SCHED_ONECYCLE, 0.1f);
    expect_bad(c, "total_steps = 0", "onecycle");
    c.total_steps = 100;
    c.pct_start = 1.5f;
    expect_bad(c, "pct_start = 1.5", "(0, 1)");
    c.pct_start = 0.005f;
    expect_bad(c, "pct_start = 0.005", "rising phase");
    c.pct_start = 0.3f;
    c.div_factor = 0;
    expect_bad(c, "div_factor = 0", "> 0");
    c = gg_schedule_defaults(GG_SCHED_PLATEAU, 0.1f);
    c.factor = 1;
    expect_bad(c, "factor = 1", "(0, 1)");
    c.factor = 0.5f;
    c.patience = -1;
    expect_bad(c, "patience = -1", "plateau");
    c = gg_schedule_defaults(GG_SCHED_CONSTANT, -0.1f);
    expect_bad(c, "lr = -0.1", "constant");
    c = gg_schedule_defaults(GG_SCHED_CONSTANT, 0.1f);
    c.warmup_start = 2;
    expect_bad(c, "warmup_start = 2", "[0, 1]");
    c = gg_schedule_defaults(GG_SCHED_COSINE, 0.1f);
    c.total_steps = 10;
    c.warmup_steps = 10;
    expect_bad(c, "total_steps = 10", "warmup_steps = 10");
    c = gg_schedule_defaults(GG_SCHED_COUNT, 0.1f);
    expect_bad(c, "kind 7", "plateau");
}

static void test_names(void)
{
    for (int k = 0; k < GG_SCHED_COUNT; k++)
        GT_CHECK(gg_sched_parse(gg_sched_name((gg_sched_kind)k)) == (gg_sched_kind)k, "round trip %d", k);
    GT_CHECK(gg_sched_parse("cosine") == GG_SCHED_COSINE && gg_sched_parse("linear") == GG_SCHED_COUNT, "parse");
    GT_CHECK(gg_sched_name(GG_SCHED_COUNT) == NULL, "unknown name");
    gg_schedule_config c = gg_schedule_defaults(GG_SCHED_PLATEAU, 0.3f);
    GT_CHECK(c.lr == 0.3f && c.gamma == 0.1f && c.factor == 0.1f && c.patience == 10 && c.threshold == 1e-4f &&
                 c.pct_start == 0.3f && c.div_factor == 25 && c.final_div_factor == 1e4f && c.t_mult == 1,
             "defaults");
    gg_schedule s;
    GT_OK(gg_schedule_init(&s, &c));
    GT_CHECK(s.plateau_scale == 1 && s.best == INFINITY && s.bad_epochs == 0 && s.seen == 0, "initial state");
}

/* gg_schedule_save / gg_schedule_restore: a plateau schedule restored to
 * a saved state gives the rates and decisions it gave from there, and the
 * state saved before any observation restores the initial one (scale 1,
 * best +inf), not zeros. */
static void test_save_restore(void)
{
    gg_schedule_config c = gg_schedule_defaults(GG_SCHED_PLATEAU, 0.1f);
    c.patience = 1;
    c.cooldown = 1;
    gg_schedule s;
    GT_OK(gg_schedule_init(&s, &c));
    gg_schedule_state first = gg_schedule_save(&s);
    GT_CHECK(first.plateau_scale == 1 && first.best == INFINITY && first.bad_epochs == 0 && first.cooldown_left == 0 &&
                 first.seen == 0, "the initial state");
    const double m[5] = {1.0, 0.9, 0.95, 0.97, 0.99};
    for (int i = 0; i < 3; i++) gg_schedule_observe(&s, m[i]);
    gg_schedule_state mid = gg_schedule_save(&s);
    int cut[2];
    float lr[2];
    for (int i = 3; i < 5; i++) cut[i - 3] = gg_schedule_observe(&s, m[i]);
    lr[0] = gg_schedule_lr(&s, 100);
    gg_schedule_state end = gg_schedule_save(&s);
    GT_CHECK(cut[0] == 1 && lr[0] < 0.1f, "the rate was cut (%d, %g)", cut[0], (double)lr[0]);
    gg_schedule_restore(&s, &mid);
    for (int i = 3; i < 5; i++) GT_CHECK(gg_schedule_observe(&s, m[i]) == cut[i - 3], "the same decision at %d", i);
    lr[1] = gg_schedule_lr(&s, 100);
    gg_schedule_state again = gg_schedule_save(&s);
    GT_CHECK(lr[1] == lr[0], "the same rate after the replay: %g vs %g", (double)lr[1], (double)lr[0]);
    GT_CHECK(again.plateau_scale == end.plateau_scale && again.best == end.best && again.bad_epochs == end.bad_epochs &&
                 again.cooldown_left == end.cooldown_left && again.seen == end.seen,
             "the same state after the replay");
    gg_schedule_restore(&s, &first);
    GT_CHECK(gg_schedule_lr(&s, 100) == 0.1f && s.seen == 0 && s.best == INFINITY, "back to the start");
}

int main(void)
{
    test_names();
    test_simple();
    test_cosine();
    test_onecycle();
    test_warmup();
    test_plateau();
    test_bad();
    test_save_restore();
    return gt_done("test_schedule");
}
