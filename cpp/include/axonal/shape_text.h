// "(128, 512)", "(7,)": how every argument check writes a shape, in cpp/ and cuda/ alike.
#pragma once
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace axonal {

inline std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream text;
  text << "(";
  for (size_t i = 0; i < shape.size(); ++i) text << (i ? ", " : "") << shape[i];
  text << (shape.size() == 1 ? ",)" : ")");
  return text.str();
}

}  // namespace axonal
