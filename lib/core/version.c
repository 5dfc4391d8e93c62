#include "vbpr_config.h"
#include "vbpr/runtime.h"
#include "vbpr/version.h"

unsigned vbpr_version_number(void) { return VBPR_VERSION_NUMBER; }

const char *vbpr_version_string(void) { return VBPR_VERSION_STRING; }

int vbpr_has_module(vbpr_module module)
{
  switch (module) {
  case VBPR_MODULE_MF: return VBPR_HAVE_MF;
  case VBPR_MODULE_LIGHTGCN: return VBPR_HAVE_LIGHTGCN;
  case VBPR_MODULE_XSIMGCL: return VBPR_HAVE_XSIMGCL;
  }
  return 0;
}
