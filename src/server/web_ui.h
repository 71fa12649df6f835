// The small chat page served at GET /: plain HTML and JavaScript embedded in the binary.
#pragma once

#include <string>

namespace dsrt::server {

const std::string& web_ui_html();

}  // namespace dsrt::server
