#include "see/values.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace tg::see {

template <class T>
Summary summarise(const Array<T>& a) {
    Summary s;
    if (a.size() == 0) {
        return s;
    }
    s.min = s.max = static_cast<double>(a.data()[0]);
    double sum = 0, sq = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double v = static_cast<double>(a.data()[i]);
        s.min = std::min(s.min, v);
        s.max = std::max(s.max, v);
        sum += v;
        sq += v * v;
    }
    s.mean = sum / static_cast<double>(a.size());
    s.norm = std::sqrt(sq);
    return s;
}

namespace {

template <class T>
void nested(std::string& out, const Array<T>& a, std::size_t axis, std::size_t& offset) {
    if (axis == a.dimension()) {
        out += fmt::format("{:.4g}", static_cast<double>(a.data()[offset++]));
        return;
    }
    out += '[';
    for (std::size_t i = 0; i < a.shape()[axis]; ++i) {
        if (i) {
            out += ", ";
        }
        nested(out, a, axis + 1, offset);
    }
    out += ']';
}

}  // namespace

template <class T>
std::string show(const Array<T>& a, std::size_t max_values) {
    if (a.size() <= max_values) {
        std::string out;
        std::size_t offset = 0;
        nested(out, a, 0, offset);
        return out;
    }
    const Summary s = summarise(a);
    return fmt::format("{} min {:.4g} max {:.4g} mean {:.4g} norm {:.4g}", shape_str(a.shape()),
                       s.min, s.max, s.mean, s.norm);
}

template <class T>
nlohmann::json to_json(const Array<T>& a, std::size_t max_values) {
    nlohmann::json j;
    j["shape"] = a.shape();
    if (a.size() <= max_values) {
        std::vector<double> v(a.begin(), a.end());
        j["values"] = v;
    } else {
        const Summary s = summarise(a);
        j["summary"] = {{"min", s.min}, {"max", s.max}, {"mean", s.mean}, {"norm", s.norm}};
    }
    return j;
}

#define TG_INSTANTIATE(T)                                          \
    template Summary summarise(const Array<T>&);                   \
    template std::string show(const Array<T>&, std::size_t);       \
    template nlohmann::json to_json(const Array<T>&, std::size_t);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

std::string wrapped(const std::string& text, std::size_t width) {
    std::string out, line;
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t end = text.find(' ', at);
        if (end == std::string::npos) {
            end = text.size();
        }
        const std::string word = text.substr(at, end - at);
        if (!line.empty() && line.size() + 1 + word.size() > width) {
            out += line + "\n";
            line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
        at = end + 1;
    }
    return out + line + "\n";
}

}  // namespace tg::see
