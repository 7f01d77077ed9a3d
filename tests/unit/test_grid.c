/* test_grid.c — sweep grids (cli/grid.c): list and range specs with their
 * typing and decimals, the enumeration order, run ids against sha256sum of
 * the documented text, every malformed spec; and the progress report text
 * (progress.c). */
#include <stdlib.h>
#include <string.h>

#include "cli/grid.h"
#include "error.h"
#include "progress.h"
#include "test.h"

static void check_values(const char *arg, const char *expected_text, const char *expected_canon) {
    Grid g = {0};
    CHECK_MSG(grid_add(&g, arg) == SN_OK, "%s: %s", arg, sn_errmsg());
    if (g.nkeys != 1) return;
    char text[512] = "", canon[512] = "";
    for (int i = 0; i < g.keys[0].n; i++) {
        strcat(text, i ? " " : ""), strcat(text, g.keys[0].values[i].text);
        strcat(canon, i ? " " : ""), strcat(canon, g.keys[0].values[i].canon);
    }
    CHECK_MSG(strcmp(text, expected_text) == 0, "%s: texts '%s', expected '%s'", arg, text, expected_text);
    CHECK_MSG(strcmp(canon, expected_canon) == 0, "%s: canon '%s', expected '%s'", arg, canon, expected_canon);
    grid_free(&g);
}

TEST(grid_lists_and_ranges) {
    check_values("a=1,2.5,ig,true", "1 2.5 ig true", "1 2.5 \"ig\" true");
    check_values("a=0:0.3:0.1", "0.0 0.1 0.2 0.3", "0.0 0.1 0.2 0.3"); /* stop on the grid, no 0.30000000000000004 */
    check_values("a=0:1:0.3", "0.0 0.3 0.6 0.9", "0.0 0.3 0.6 0.9");   /* stop off the grid */
    check_values("a=1:10:3", "1 4 7 10", "1 4 7 10");                  /* integers stay integers */
    check_values("a=3:1:-1", "3 2 1", "3 2 1");
    check_values("a=0.5:0.5:1", "0.5", "0.5");
    check_values("a=1:2:0.25", "1.00 1.25 1.50 1.75 2.00", "1.0 1.25 1.5 1.75 2.0");
    check_values("a=1e-3:3e-3:1e-3", "0.001 0.002 0.003", "0.001 0.002 0.003");
    check_values("a=0.3:0:-0.1", "0.3 0.2 0.1 0.0", "0.3 0.2 0.1 0.0");
    check_values("a=1.0", "1.0", "1.0"); /* a float, unlike a=1 */
    /* a fixed list: one value, the run gets methods=gradient,sobel */
    check_values("methods=[gradient,sobel]", "gradient,sobel", "[\"gradient\",\"sobel\"]");
    check_values("k=[1,2.5]", "1,2.5", "[1,2.5]");
}

static void check_error(const char *arg, const char *fragment);

TEST(grid_fixed_list_errors) {
    check_error("a=[]", "fixed list");
    check_error("a=[x,y", "fixed list");
    check_error("a=[x,,y]", "empty or nested element");
    check_error("a=[x,[y]]", "empty or nested element");
}

static void check_error(const char *arg, const char *fragment) {
    Grid g = {0};
    int rc = grid_add(&g, arg);
    CHECK_MSG(rc == SN_ERR, "%s: no error", arg);
    if (rc == SN_ERR) CHECK_MSG(strstr(sn_errmsg(), fragment), "%s: '%s' lacks '%s'", arg, sn_errmsg(), fragment);
    grid_free(&g);
}

TEST(grid_bad_specs) {
    check_error("noise=0.1:", "bad range 'noise=0.1:': expected start:stop:step");
    check_error("a=1:2", "bad range");
    check_error("a=1:2:3:4", "bad range");
    check_error("a=:1:1", "bad range");
    check_error("a=x:y:z", "'x' is not a number");
    check_error("a=1:0:1", "empty range 'a=1:0:1'");
    check_error("a=0:1:-0.5", "empty range");
    check_error("a=0:1:0", "the step must not be 0");
    check_error("a=0:1e9:1", "more than 100000 values");
    check_error("a=", "'a=' has no values");
    check_error("a=1,,2", "empty element in list");
    check_error("a=1,", "empty element in list");
    check_error("a=1,1.0,1", "value '1' appears twice");
    check_error("a", "not key=values");
    check_error("=1", "not a valid key");
    check_error("a..b=1", "not a valid key");
    check_error("out=x", "reserved");
    check_error("threads=2", "use --threads");
    Grid g = {0};
    CHECK(grid_add(&g, "a=1") == SN_OK);
    CHECK(grid_add(&g, "a=2") == SN_ERR && strstr(sn_errmsg(), "given twice"));
    grid_free(&g);
}

TEST(grid_enumeration_and_ids) {
    Grid g = {0};
    CHECK(grid_add(&g, "stop_layer=1:3:1") == SN_OK);
    CHECK(grid_add(&g, "seed=0") == SN_OK);
    CHECK(grid_add(&g, "noise=0.1,0.2") == SN_OK);
    CHECK(grid_finish(&g) == SN_OK);
    CHECK_EQ_INT(g.nruns, 6);
    CHECK(strcmp(g.keys[0].name, "noise") == 0 && strcmp(g.keys[2].name, "stop_layer") == 0); /* sorted */
    int idx[3];
    grid_run(&g, 4, idx); /* last key fastest: noise=0.2, seed=0, stop_layer=2 */
    CHECK(idx[0] == 1 && idx[1] == 0 && idx[2] == 1);
    char *json = grid_config_json(&g, 0);
    CHECK_MSG(json && strcmp(json, "{\"noise\":0.1,\"seed\":0,\"stop_layer\":1}") == 0, "%s", json);
    free(json);
    char id[GRID_ID_LEN + 1];
    CHECK(grid_run_id(&g, "mimic.lua", 0, id) == SN_OK);
    /* printf 'sanity-sweep/1\nmimic.lua\n{"noise":0.1,"seed":0,"stop_layer":1}' | sha256sum */
    CHECK_MSG(strcmp(id, "b474d5d7d1b5") == 0, "%s", id);
    grid_free(&g);

    CHECK(grid_add(&g, "c=true") == SN_OK && grid_add(&g, "b=ig") == SN_OK && grid_add(&g, "a=1.0") == SN_OK &&
          grid_add(&g, "seed=0") == SN_OK && grid_finish(&g) == SN_OK);
    CHECK(grid_run_id(&g, "x.lua", 0, id) == SN_OK);
    /* printf 'sanity-sweep/1\nx.lua\n{"a":1.0,"b":"ig","c":true,"seed":0}' | sha256sum */
    CHECK_MSG(strcmp(id, "092083b37f62") == 0, "%s", id);
    CHECK_EQ_INT(grid_find(&g, "b"), 1);
    CHECK_EQ_INT(grid_find(&g, "zz"), -1);
    grid_free(&g);
}

TEST(grid_too_many_runs) {
    Grid g = {0};
    CHECK(grid_add(&g, "a=1:1000:1") == SN_OK && grid_add(&g, "b=1:1000:1") == SN_OK &&
          grid_add(&g, "c=1:2:1") == SN_OK);
    CHECK(grid_finish(&g) == SN_ERR && strstr(sn_errmsg(), "more than 1000000 runs"));
    grid_free(&g);
}

TEST(grid_distance_counts_swaps_once) {
    CHECK_EQ_INT(grid_distance("nosie", "noise"), 1);
    CHECK_EQ_INT(grid_distance("noise", "noise"), 0);
    CHECK_EQ_INT(grid_distance("stop", "stop_layer"), 6);
    CHECK_EQ_INT(grid_distance("", "abc"), 3);
    CHECK_EQ_INT(grid_distance("kitten", "sitting"), 3);
}

TEST(progress_text) {
    Progress p;
    progress_start(&p, "mprt", 40, PROGRESS_BAR, stderr);
    p.done = 10;
    char buf[256];
    progress_format(&p, p.start + 5.0, buf, sizeof buf); /* 2 units/s, 30 left: 15 s */
    CHECK_MSG(strcmp(buf, "mprt [######..................] 10/40  25%  2/s  ETA 15s") == 0, "%s", buf);
    p.mode = PROGRESS_LINES;
    progress_format(&p, p.start + 5.0, buf, sizeof buf);
    CHECK_MSG(strcmp(buf, "mprt: 10/40 (25%) 2/s, ETA 15s") == 0, "%s", buf);
    p.done = 1;
    progress_format(&p, p.start + 100.0, buf, sizeof buf); /* slow: seconds per unit */
    CHECK_MSG(strcmp(buf, "mprt: 1/40 (2%) 100s each, ETA 1h05m") == 0, "%s", buf);
    p.done = 40;
    p.finished = 1;
    progress_format(&p, p.start + 200.0, buf, sizeof buf);
    CHECK_MSG(strcmp(buf, "mprt: 40/40 in 3m20s, 0.2/s") == 0, "%s", buf);
    progress_duration(59.4, buf, sizeof buf);
    CHECK(strcmp(buf, "59s") == 0);
    progress_duration(7325, buf, sizeof buf);
    CHECK(strcmp(buf, "2h02m") == 0);
}
