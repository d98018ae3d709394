// The latent explorer: one HTML page (script and style inline, nothing fetched from elsewhere)
// served at GET /. It draws GET /v1/models/{name}/map (the --data rows encoded: two latent
// dimensions or the first two principal components of μ, coloured by class) and decodes
// through POST /v1/models/{name}/decode: the point under the pointer while hovering or
// dragging, per-dimension sliders around a picked example, the path between two picks as a
// strip; a sample button, a class selector for conditional models, the pick's anomaly score
// (POST .../score). window.explorer exposes the last decoded z and image for browser tests.
#pragma once

#include <string>

namespace vae::serve {

const std::string& explorer_page();

}  // namespace vae::serve
