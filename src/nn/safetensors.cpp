// safetensors reader and writer: see safetensors.hpp.
#include "nn/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <set>

#include "core/checked.hpp"
#include "core/enum_names.hpp"
#include "core/fs.hpp"
#include "nn/quant.hpp"

namespace lmlab::nn {

const char* safetensors_dtype_name(dtype t) {
  static constexpr enum_name<dtype> names[] = {{dtype::f32, "F32"}, {dtype::f64, "F64"}, {dtype::i32, "I32"}};
  return name_of(names, t);
}

namespace {
// The file's dtype: its tensor dtype, and for F16/BF16 (Hugging Face checkpoints), which are
// widened to f32 on load, the 2-byte width they have in the file.
enum class half_kind { none, f16, bf16 };
bool parse_dtype(const std::string& s, dtype& out, half_kind& half) {
  half = half_kind::none;
  if (s == "F32") out = dtype::f32;
  else if (s == "F64") out = dtype::f64;
  else if (s == "I32") out = dtype::i32;
  else if (s == "F16" || s == "BF16") out = dtype::f32, half = s == "F16" ? half_kind::f16 : half_kind::bf16;
  else return false;
  return true;
}
struct entry {
  std::string name;
  shape_t shape;
  dtype type;
  half_kind half;
  std::uint64_t begin, end;
};

// One tensor's header entry, checked against its dtype and shape and the data section's size.
entry parse_entry(const std::string& name, const nlohmann::json& e, const std::string& where, std::uint64_t data_size) {
  LMLAB_CHECK(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"),
              "{}: tensor '{}': the header entry needs dtype, shape and data_offsets", where, name);
  dtype t{};
  half_kind half{};
  const std::string ds = e["dtype"].is_string() ? e["dtype"].get<std::string>() : "?";
  LMLAB_CHECK_HINT(parse_dtype(ds, t, half), "lmlab reads F32, F64, I32, F16 and BF16 (F16 and BF16 load as F32)",
                   "{}: tensor '{}' has unsupported dtype {}", where, name, ds);
  LMLAB_CHECK(e["shape"].is_array(), "{}: tensor '{}' has a bad shape {}", where, name, e["shape"].dump());
  shape_t shape;
  std::uint64_t want = half == half_kind::none ? dtype_size(t) : 2;
  const std::string what = fmt::format("{}: tensor '{}': shape {}", where, name, e["shape"].dump());
  for (const auto& d : e["shape"]) {
    LMLAB_CHECK(d.is_number_integer() && d.get<std::int64_t>() >= 0, "{}: tensor '{}' has a bad shape {}", where, name,
                e["shape"].dump());
    shape.push_back(d.get<std::int64_t>());
    want = checked_mul(want, d.get<std::uint64_t>(), what);
  }
  const auto& off = e["data_offsets"];
  LMLAB_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
              "{}: tensor '{}' has bad data_offsets {}", where, name, off.dump());
  const auto b = off[0].get<std::uint64_t>(), en = off[1].get<std::uint64_t>();
  LMLAB_CHECK(en >= b && en - b == want, "{}: tensor '{}' has {} bytes of data but shape {} {} needs {}", where, name,
              en >= b ? en - b : 0, shape_str(shape), ds, want);
  LMLAB_CHECK_HINT(en <= data_size, "the file may have been cut short while writing; save it again",
                   "{}: truncated: tensor '{}' ends at data byte {} but the data section has {}", where, name, en,
                   data_size);
  return {name, std::move(shape), t, half, b, en};
}

// The tensors tile the data section: in offset order, each starts where the previous ends,
// and the last ends at the end of the file. Anything else (a header length off by one,
// shifted or overlapping offsets) would load bytes as the wrong weights.
void check_tiling(const std::vector<entry>& entries, const std::string& where, std::uint64_t data_size) {
  std::vector<const entry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](const entry* a, const entry* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  const std::string hint = "the header length or the data_offsets are corrupt; save the file again";
  std::uint64_t pos = 0;
  const entry* prev = nullptr;
  for (const entry* e : order) {
    LMLAB_CHECK_HINT(e->begin >= pos, hint, "{}: tensor '{}' (data bytes [{}, {})) overlaps tensor '{}' ([{}, {}))", where,
                     e->name, e->begin, e->end, prev->name, prev->begin, prev->end);
    LMLAB_CHECK_HINT(e->begin == pos, hint, "{}: data bytes [{}, {}) before tensor '{}' belong to no tensor", where, pos,
                     e->begin, e->name);
    pos = e->end;
    prev = e;
  }
  LMLAB_CHECK_HINT(pos == data_size, hint, "{}: the data section has {} bytes but the tensors cover {}", where, data_size,
                   pos);
}

}  // namespace

safetensors_file safetensors_file::load(const std::filesystem::path& path) {
  auto bytes = read_binary_file(path);
  return parse(bytes, path.string());
}

safetensors_file safetensors_file::parse(std::span<const std::uint8_t> bytes, const std::string& where) {
  safetensors_file f;
  f.where_ = where;
  LMLAB_CHECK_HINT(bytes.size() >= 8, "the file may have been cut short while writing; save it again",
                   "{}: truncated: {} bytes, shorter than the 8-byte safetensors header length", where, bytes.size());
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<std::size_t>(i)];
  LMLAB_CHECK_HINT(n <= bytes.size() - 8, "the file may have been cut short while writing; save it again",
                   "{}: truncated: the header declares {} bytes but only {} follow", where, n, bytes.size() - 8);
  LMLAB_CHECK_HINT(n >= 2 && bytes[8] == '{', "the header length or the header is corrupt",
                   "{}: the safetensors header ({} bytes) does not start with '{{'", where, n);
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  } catch (const nlohmann::json::exception& e) {
    throw error(fmt::format("{}: the safetensors header is not valid JSON: {}", where, e.what()));
  }
  LMLAB_CHECK(h.is_object(), "{}: the safetensors header is not a JSON object", where);
  const std::size_t data_begin = 8 + n;
  const std::uint64_t data_size = bytes.size() - data_begin;
  std::vector<entry> entries;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      LMLAB_CHECK(it->is_object(), "{}: __metadata__ is not an object", where);
      for (auto m = it->begin(); m != it->end(); ++m) {
        LMLAB_CHECK(m->is_string(), "{}: __metadata__.{} is not a string", where, m.key());
        f.metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(name, *it, where, data_size));
  }
  check_tiling(entries, where, data_size);
  for (auto& e : entries) {
    tensor x = tensor::empty(e.shape, e.type);
    const std::uint8_t* p = bytes.data() + data_begin + e.begin;
    if (e.half == half_kind::none) {
      if (e.end > e.begin) std::memcpy(x.raw_data(), p, e.end - e.begin);
    } else {
      float* y = x.data<float>();
      for (std::uint64_t i = 0; i < (e.end - e.begin) / 2; ++i) {
        const auto bits = static_cast<std::uint16_t>(p[2 * i] | (p[2 * i + 1] << 8));
        y[i] = e.half == half_kind::f16 ? half_to_float(bits) : bf16_to_float(bits);
      }
    }
    f.tensors_.emplace(e.name, std::move(x));
  }
  return f;
}

const tensor& safetensors_file::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    throw error(fmt::format("{}: missing tensor '{}'", where_, name),
                fmt::format("the file has {} tensors{}", tensors_.size(),
                            tensors_.empty() ? "" : ", e.g. '" + tensors_.begin()->first + "'"));
  return it->second;
}

const tensor& safetensors_file::get(const std::string& name, const shape_t& shape, dtype type) const {
  const tensor& t = get(name);
  LMLAB_CHECK(t.type() == type, "{}: tensor '{}' has dtype {}, expected {}", where_, name, safetensors_dtype_name(t.type()),
              safetensors_dtype_name(type));
  LMLAB_CHECK_HINT(t.shape() == shape, "the checkpoint was saved from a model with a different config",
                   "{}: tensor '{}' has shape {}, expected {}", where_, name, shape_str(t.shape()), shape_str(shape));
  return t;
}

std::vector<std::string> safetensors_file::names() const {
  std::vector<std::string> out;
  for (auto& [n, t] : tensors_) out.push_back(n);
  return out;
}

std::vector<std::uint8_t> encode_safetensors(const named_tensors& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::uint64_t off = 0;
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    LMLAB_CHECK(seen.insert(name).second, "safetensors: tensor '{}' given twice", name);
    const std::uint64_t n = static_cast<std::uint64_t>(t.numel()) * dtype_size(t.type());
    h[name] = {{"dtype", safetensors_dtype_name(t.type())}, {"shape", t.shape()}, {"data_offsets", {off, off + n}}};
    off += n;
  }
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  std::vector<std::uint8_t> out(8 + header.size() + off);
  std::uint64_t hn = header.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(hn >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  std::size_t pos = 8 + header.size();
  for (const auto& [name, t] : tensors) {
    tensor c = t.contiguous_raw();
    const std::size_t n = static_cast<std::size_t>(c.numel()) * dtype_size(c.type());
    if (n) std::memcpy(out.data() + pos, c.raw_data(), n);
    pos += n;
  }
  return out;
}

void save_safetensors(const std::filesystem::path& path, const named_tensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  auto bytes = encode_safetensors(tensors, metadata);
  write_file_atomic(path, std::span<const std::uint8_t>(bytes));
}

void load_parameters(const module& m, const safetensors_file& f, const std::string& prefix, bool strict) {
  auto params = m.named_parameters();
  std::set<std::string> wanted;
  for (auto& [name, p] : params) {
    const std::string key = prefix + name;
    wanted.insert(key);
    const tensor& src = f.get(key, p.shape(), p.type());
    tensor dst = p;
    dst.copy_from(src);
  }
  if (!strict) return;
  for (const auto& n : f.names())
    if (n.rfind(prefix, 0) == 0 && !wanted.count(n))
      throw error(fmt::format("{}: unexpected tensor '{}' (the model has no such parameter)", f.where(), n),
                  "the checkpoint was saved from a model with a different config");
}

}  // namespace lmlab::nn
