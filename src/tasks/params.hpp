// Task parameters as data: each task declares its config fields once in a param_table
// (name, member, help, range), and gets from it (1) a strict reader from a JSON object that
// rejects unknown keys and wrong types with an error naming the key, (2) a writer that
// produces the canonical JSON of a config (defaults filled in), and (3) a schema the
// experiment-spec parser uses to type sweep values ("64,128" on an integer key).
// Not for: model or training hyper-parameters (lab/spec.cpp has its own tables).
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "core/error.hpp"

namespace lmlab::tasks {

enum class param_kind { integer, number, boolean, string, integer_list, string_list };

const char* param_kind_name(param_kind k);

struct param_spec {
  std::string name;
  param_kind kind = param_kind::integer;
  std::string help;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  std::vector<std::string> choices;  // allowed strings (empty: any)
  nlohmann::json default_value;
};

// A spec from its parts (default_value left null): param_table::add and the lab's [model] and
// [train] schemas (lab/spec.cpp) build theirs with it.
inline param_spec make_param_spec(std::string name, param_kind kind, std::string help,
                                  double min = -std::numeric_limits<double>::infinity(),
                                  double max = std::numeric_limits<double>::infinity(), std::vector<std::string> choices = {}) {
  param_spec s;
  s.name = std::move(name);
  s.kind = kind;
  s.help = std::move(help);
  s.min = min;
  s.max = max;
  s.choices = std::move(choices);
  return s;
}

// A user error about one parameter: `key()` is the parameter name inside the task table
// ("num_kv_pairs"), so callers that know where the key came from (a TOML line) can say so.
class param_error : public lmlab::error {
 public:
  param_error(std::string key, std::string message, std::string hint = {})
      : lmlab::error(std::move(message), std::move(hint)), key_(std::move(key)) {}
  const std::string& key() const noexcept { return key_; }

 private:
  std::string key_;
};

// The known key closest to `key` by edit distance, or "" when nothing is close.
std::string closest_name(const std::string& key, const std::vector<std::string>& known);

// Value checks shared by param_table and lab/spec.cpp; `owner` prefixes messages ("mqar").
std::int64_t json_to_integer(const nlohmann::json& v, const std::string& owner, const std::string& key);
double json_to_number(const nlohmann::json& v, const std::string& owner, const std::string& key);
void check_range(double v, const param_spec& spec, const std::string& owner);
void check_choice(const std::string& v, const param_spec& spec, const std::string& owner);

template <class C>
class param_table {
 public:
  using member = std::variant<std::int64_t C::*, double C::*, bool C::*, std::string C::*,
                              std::vector<std::int64_t> C::*, std::vector<std::string> C::*>;

  explicit param_table(std::string owner) : owner_(std::move(owner)) {}

  param_table& add(std::string name, member m, std::string help,
                   double min = -std::numeric_limits<double>::infinity(),
                   double max = std::numeric_limits<double>::infinity(), std::vector<std::string> choices = {}) {
    param_spec s = make_param_spec(std::move(name), param_kind::integer, std::move(help), min, max, std::move(choices));
    static const C defaults{};
    std::visit(
        [&](auto p) {
          using T = std::remove_cvref_t<decltype(defaults.*p)>;
          if constexpr (std::is_same_v<T, std::int64_t>) s.kind = param_kind::integer;
          else if constexpr (std::is_same_v<T, double>) s.kind = param_kind::number;
          else if constexpr (std::is_same_v<T, bool>) s.kind = param_kind::boolean;
          else if constexpr (std::is_same_v<T, std::string>) s.kind = param_kind::string;
          else if constexpr (std::is_same_v<T, std::vector<std::int64_t>>) s.kind = param_kind::integer_list;
          else s.kind = param_kind::string_list;
          s.default_value = defaults.*p;
        },
        m);
    specs_.push_back(std::move(s));
    members_.push_back(m);
    return *this;
  }

  // The key added last is left out of write() (the canonical JSON) while `omit(c)` holds, so a
  // key added to an existing table keeps every existing spec's canonical form and run ids
  // byte-identical; read() still accepts it.
  param_table& omit_when(std::function<bool(const C&)> omit) {
    LMLAB_CHECK(!specs_.empty(), "param_table: omit_when before any add");
    omit_.resize(specs_.size());
    omit_.back() = std::move(omit);
    return *this;
  }
  // The key added last is left out of write() while it has its default value.
  param_table& omit_when_default() {
    return omit_when([m = members_.back()](const C& c) {
      static const C defaults{};
      return std::visit([&](auto p) { return c.*p == defaults.*p; }, m);
    });
  }

  // Every key of a base config's table, for a task whose config derives from B and extends its
  // keys (ttc_arithmetic on arithmetic): same names, kinds, ranges, defaults and omit rules.
  template <class B>
    requires std::is_base_of_v<B, C>
  param_table& add_table(const param_table<B>& base) {
    for (std::size_t i = 0; i < base.specs_.size(); ++i) {
      specs_.push_back(base.specs_[i]);
      members_.push_back(std::visit([](auto p) -> member { return static_cast<std::remove_cvref_t<decltype(std::declval<B&>().*p)> C::*>(p); },
                                    base.members_[i]));
      if (i < base.omit_.size() && base.omit_[i]) {
        omit_.resize(specs_.size());
        omit_.back() = [f = base.omit_[i]](const C& c) { return f(c); };
      }
    }
    return *this;
  }

  // num_train ("training examples") and num_test (help `test_help`), the sizes every task has.
  param_table& add_sizes(std::string test_help) {
    return add("num_train", &C::num_train, "training examples", 0, 1e9).add("num_test", &C::num_test, std::move(test_help), 0, 1e9);
  }

  // Adds a key group shared by several tasks, in a chain of add()s: `group(*this, args...)`,
  // where group is a template such as align::add_policy_keys<C>.
  template <class F, class... A>
  param_table& add_keys(F&& group, A&&... args) {
    group(*this, std::forward<A>(args)...);
    return *this;
  }

  const std::vector<param_spec>& specs() const { return specs_; }
  const std::string& owner() const { return owner_; }

  // Reads a JSON object; missing keys keep the default. Keys named in `ignore` (such as the
  // registry's "name") are skipped.
  C read(const nlohmann::json& j, const std::vector<std::string>& ignore = {}) const {
    C c{};
    if (j.is_null()) return c;
    if (!j.is_object()) throw param_error("", owner_ + ": parameters must be a table/object, got " + std::string(j.type_name()));
    std::vector<std::string> names;
    for (const auto& s : specs_) names.push_back(s.name);
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      bool skip = false;
      for (const auto& x : ignore) skip = skip || x == key;
      if (skip) continue;
      std::size_t i = 0;
      while (i < specs_.size() && specs_[i].name != key) ++i;
      if (i == specs_.size()) {
        const std::string near = closest_name(key, names);
        std::string hint = near.empty() ? "" : "did you mean '" + near + "'? ";
        hint += "known keys: ";
        for (std::size_t k = 0; k < names.size(); ++k) hint += (k ? ", " : "") + names[k];
        throw param_error(key, fmt::format("{}: unknown key '{}'", owner_, key), hint);
      }
      assign(c, i, it.value());
    }
    return c;
  }

  nlohmann::json write(const C& c) const {
    nlohmann::json j = nlohmann::json::object();
    for (std::size_t i = 0; i < specs_.size(); ++i)
      if (i >= omit_.size() || !omit_[i] || !omit_[i](c)) std::visit([&](auto p) { j[specs_[i].name] = c.*p; }, members_[i]);
    return j;
  }

 private:
  void assign(C& c, std::size_t i, const nlohmann::json& v) const {
    const param_spec& s = specs_[i];
    std::visit(
        [&](auto p) {
          using T = std::remove_cvref_t<decltype(c.*p)>;
          if constexpr (std::is_same_v<T, std::int64_t>) {
            c.*p = json_to_integer(v, owner_, s.name);
            check_range(static_cast<double>(c.*p), s, owner_);
          } else if constexpr (std::is_same_v<T, double>) {
            c.*p = json_to_number(v, owner_, s.name);
            check_range(c.*p, s, owner_);
          } else if constexpr (std::is_same_v<T, bool>) {
            if (!v.is_boolean())
              throw param_error(s.name, fmt::format("{}: {}: expected a boolean, got {}", owner_, s.name, v.dump()));
            c.*p = v.get<bool>();
          } else if constexpr (std::is_same_v<T, std::string>) {
            if (!v.is_string())
              throw param_error(s.name, fmt::format("{}: {}: expected a string, got {}", owner_, s.name, v.dump()));
            c.*p = v.get<std::string>();
            check_choice(c.*p, s, owner_);
          } else if constexpr (std::is_same_v<T, std::vector<std::int64_t>>) {
            if (!v.is_array())
              throw param_error(s.name, fmt::format("{}: {}: expected a list of integers, got {}", owner_, s.name, v.dump()));
            (c.*p).clear();
            for (const auto& e : v) {
              (c.*p).push_back(json_to_integer(e, owner_, s.name));
              check_range(static_cast<double>((c.*p).back()), s, owner_);
            }
          } else {
            if (!v.is_array())
              throw param_error(s.name, fmt::format("{}: {}: expected a list of strings, got {}", owner_, s.name, v.dump()));
            (c.*p).clear();
            for (const auto& e : v) {
              if (!e.is_string())
                throw param_error(s.name, fmt::format("{}: {}: expected a list of strings, got {}", owner_, s.name, v.dump()));
              (c.*p).push_back(e.get<std::string>());
              check_choice((c.*p).back(), s, owner_);
            }
          }
        },
        members_[i]);
  }

  template <class>
  friend class param_table;

  std::string owner_;
  std::vector<param_spec> specs_;
  std::vector<member> members_;
  std::vector<std::function<bool(const C&)>> omit_;  // per key; empty: always written
};

}  // namespace lmlab::tasks
