/* What the rest of the library (the trainer, later the CLI) may use of the
 * encoders beyond the public API: the registry of kinds, a constructor for
 * any kind, and the optional extra loss term. Internal; the layout of an
 * encoder and the ops table of its kinds are in encoder_impl.h, for the
 * encoder's own files only.
 *
 * Every kind listed in lib/encoder/meson.build has an entry, whether its
 * module is built or not: a disabled module's stub file provides the same
 * entry with built = false and a create that returns VBPR_ERR_UNSUPPORTED.
 * So numbers and names are the same in every build, and a model file of a
 * kind compiled out is still recognised (and refused with a clear message). */
#ifndef VBPR_LIB_ENCODER_INTERNAL_H
#define VBPR_LIB_ENCODER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/params.h"
#include "vbpr/dataset.h"
#include "vbpr/encoder.h"

/* Builds an encoder of one kind from the training data. Kinds without a
 * graph use only the universe sizes of `train`; kinds without layers
 * (max_layers == 0) ignore num_layers. `out` is not NULL; *out is set to
 * the new encoder, or to NULL on failure. Errors name the kind's public
 * constructor, as if the caller had called it. */
typedef vbpr_status (*vbpr__encoder_create_fn)(const vbpr_dataset *train, int32_t dim,
                                               int32_t num_layers, uint64_t seed,
                                               vbpr_encoder **out);

/* One registry entry: constant data, defined by the kind's source file (or
 * its stub) as `const vbpr__encoder_kind_info vbpr__encoder_kind_<stem>`. */
typedef struct vbpr__encoder_kind_info {
  vbpr_encoder_kind kind;  /* the public enum value, stored in model files */
  const char *name;        /* for messages: "MF", "LightGCN" */
  const char *module;      /* the module and Meson option: "mf" */
  int32_t min_layers;      /* the range of vbpr_encoder_num_layers(); */
  int32_t max_layers;      /* 0..0 for kinds without layers */
  bool built;              /* false in a stub */
  vbpr__encoder_create_fn create;
  /* The initialisation the kind's constructor uses, which the trainer
   * completes a partly given INIT / INIT_SCALE with. */
  vbpr_init init;
  double init_scale;
  /* The kind's vbpr_encoder_param table (a spec per value, name NULL for
   * those that do not apply), or NULL when it has none. A stub points to
   * the same table, so bounds and names are the same in every build. */
  const vbpr__param_table *params;
} vbpr__encoder_kind_info;

/* XSimGCL's parameter table (lib/encoder/params.c), shared by xsimgcl.c
 * and its stub. */
extern const vbpr__param_table vbpr__xsimgcl_params;

/* Storage for every vbpr_encoder_param value. */
#define VBPR__ENCODER_NPARAMS (VBPR_ENCODER_CL_LAYER + 1)

/* The registered kinds, in the order of lib/encoder/meson.build. */
size_t vbpr__encoder_kind_count(void);
const vbpr__encoder_kind_info *vbpr__encoder_kind_at(size_t i);

/* The entry of a kind number, or NULL when no kind has it. Takes an int so
 * that numbers read from files or parameters need no cast to the enum. */
const vbpr__encoder_kind_info *vbpr__encoder_kind_find(int kind);

/* The kind's name, or "?" for an unknown number. Never NULL. */
const char *vbpr__encoder_kind_name(int kind);

/* Creates an encoder of any registered kind: what the trainer calls instead
 * of switching on the kind. Returns VBPR_OK; VBPR_ERR_INVALID_ARGUMENT
 * (NULL, unknown kind, bad sizes or layers); VBPR_ERR_UNSUPPORTED (module not
 * built); VBPR_ERR_OUT_OF_MEMORY. *out is NULL on failure. */
vbpr_status vbpr__encoder_create_for(int kind, const vbpr_dataset *train, int32_t dim,
                                     int32_t num_layers, uint64_t seed,
                                     vbpr_encoder **out);

/* For stubs: records and returns VBPR_ERR_UNSUPPORTED with the message of
 * every modules-off build ("built without the 'mf' module (meson
 * -Dmf=enabled)"), naming `func`. */
vbpr_status vbpr__encoder_unsupported(const vbpr__encoder_kind_info *info,
                                      const char *func);

/* The encoder's own loss term for the batch of the last forward (e.g. a
 * contrastive term), in *value; 0 for kinds without one. Call it between
 * vbpr_encoder_forward and vbpr_encoder_backward: the term's gradient is
 * added to the parameter gradients by that backward, on top of the batch
 * gradients. The caller adds *value to the loss it reports. Returns VBPR_OK;
 * VBPR_ERR_STATE without a pending forward; whatever the kind's op returns
 * (then nothing is pending from it). */
vbpr_status vbpr__encoder_extra_loss(vbpr_encoder *enc, double *value, const char *func);

/* For data-parallel training (lib/train/collective.c): the writable
 * gradient of one table [rows x dim] (the public getter lends it read-only),
 * and the recording of rows whose gradient was written there as touched
 * (see vbpr_encoder_touched_rows()). touch_rows validates the ids and
 * returns VBPR_ERR_UNSUPPORTED for a kind without the op, changing nothing
 * on failure. */
float *vbpr__encoder_grad_table(vbpr_encoder *enc, vbpr_table table);
vbpr_status vbpr__encoder_touch_rows(vbpr_encoder *enc, vbpr_table table, size_t count,
                                     const int32_t *rows, const char *func);

#endif
