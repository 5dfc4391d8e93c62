/* The example encoder kind of doc/encoder.md (example_kind.c), for tests. */
#ifndef VBPR_TEST_EXAMPLE_KIND_H
#define VBPR_TEST_EXAMPLE_KIND_H

#include "encoder/encoder_internal.h"

/* Not a public kind number: the example is never registered. */
#define TEST_EXAMPLE_KIND 99

extern const vbpr__encoder_kind_info test_example_kind;

vbpr_status test_example_create(int32_t num_users, int32_t num_items, int32_t dim,
                                uint64_t seed, vbpr_encoder **out);

#endif
