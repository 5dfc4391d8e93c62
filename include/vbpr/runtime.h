/*
 * libvbpr: process-wide runtime settings: compiled-in modules and threads.
 */
#ifndef VBPR_RUNTIME_H
#define VBPR_RUNTIME_H

#include "vbpr/common.h"

VBPR_BEGIN_DECLS

/** Optional modules. Values are explicit and never renumbered. */
typedef enum vbpr_module {
  VBPR_MODULE_MF = 1,       /**< matrix-factorisation encoder */
  VBPR_MODULE_LIGHTGCN = 2, /**< LightGCN graph encoder */
  VBPR_MODULE_XSIMGCL = 3   /**< XSimGCL graph contrastive encoder */
} vbpr_module;

/**
 * 1 if @p module was compiled into this library, else 0 (also for unknown
 * values). The symbols of a missing module still exist and return
 * VBPR_ERR_UNSUPPORTED.
 */
VBPR_API int vbpr_has_module(vbpr_module module);

/**
 * The largest thread count vbpr_set_num_threads() and VBPR_NUM_THREADS
 * accept. The library's worker pool grows to this many threads (the calling
 * thread plus VBPR_MAX_THREADS - 1 workers) when a job asks for them; if the
 * system refuses to start a thread, the remaining work runs on the threads
 * that exist and the results are unchanged. Some steps split their work
 * over at most 64 threads, where more would not help: the loss, ranking
 * for evaluation, graph propagation.
 */
#define VBPR_MAX_THREADS 4096

/**
 * Sets the number of worker threads the library may use for large work
 * (loss over big batches, sampling, graph propagation, evaluation).
 * 0 means one per online core, as counted at the first use of the setting
 * or at the last vbpr_set_num_threads(0): the library does not follow later
 * changes in the number of online cores. Above VBPR_MAX_THREADS is
 * VBPR_ERR_INVALID_ARGUMENT. Process-wide and thread-safe; it applies to
 * calls started after it returns.
 *
 * The default comes from the environment variable VBPR_NUM_THREADS (read
 * once, at the first call that needs it; an invalid value is ignored), else 0.
 */
VBPR_API vbpr_status vbpr_set_num_threads(size_t num_threads);

/**
 * The number of threads the library will use: the value set (or taken from
 * VBPR_NUM_THREADS) with 0 resolved to the number of online cores. Always >= 1.
 * Cheap: the count is resolved when set (or at the first use), so this
 * reads a variable and makes no system call.
 */
VBPR_API size_t vbpr_get_num_threads(void);

VBPR_END_DECLS

#endif /* VBPR_RUNTIME_H */
