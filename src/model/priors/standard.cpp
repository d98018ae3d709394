// The standard prior's row (model/priors/standard.h).
#include "model/priors/standard.h"

namespace vae {

PriorRow standard_prior() {
  PriorRow r;
  r.kind = Prior::Standard;
  r.name = "standard";
  r.json_name = "standard_normal";
  r.description = "standard normal";
  r.pseudo_inputs = false;
  return r;
}

}  // namespace vae
