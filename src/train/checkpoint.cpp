// Atomic checkpoint folders: see checkpoint.hpp.
#include "train/checkpoint.hpp"

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "core/fs.hpp"
#include "nn/safetensors.hpp"

namespace lmlab::train {

namespace fs = std::filesystem;

namespace {
int g_fail_after = -1;

void fsync_dir(const fs::path& d) {
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}
}  // namespace

void inject_checkpoint_failure_after(int files) { g_fail_after = files; }

void save_checkpoint(const fs::path& dir_in, const checkpoint_contents& c) {
  LMLAB_ASSERT(c.model != nullptr, "save_checkpoint without a model");
  const fs::path dir = fs::absolute(dir_in).lexically_normal();
  const fs::path parent = dir.parent_path();
  fs::create_directories(parent);
  const fs::path tmp = parent / fmt::format(".{}.tmp-{}", dir.filename().string(), ::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const int fail_after = std::exchange(g_fail_after, -1);
  int written = 0;
  auto wrote = [&](const fs::path& f) {
    if (fail_after >= 0 && ++written > fail_after)
      throw error(fmt::format("checkpoint: injected failure after writing {}", f.string()));
  };
  try {
    write_file_atomic(tmp / "config.json", c.model->config_json().dump(2) + "\n");
    wrote(tmp / "config.json");
    nn::save_safetensors(tmp / "model.safetensors", c.model->named_parameters(), {{"format", "pt"}});
    wrote(tmp / "model.safetensors");
    if (c.optimizer) {
      nn::save_safetensors(tmp / "optimizer.safetensors", c.optimizer->state(),
                           {{"step", std::to_string(c.optimizer->steps())}});
      wrote(tmp / "optimizer.safetensors");
    }
    if (c.tokenizer) {
      write_file_atomic(tmp / "tokenizer.json", c.tokenizer->dump() + "\n");
      wrote(tmp / "tokenizer.json");
    }
    write_file_atomic(tmp / "trainer_state.json", c.trainer_state.dump(2) + "\n");
    wrote(tmp / "trainer_state.json");
    fsync_dir(tmp);
    if (fs::exists(dir)) {
      // Swap the new folder in atomically; the old one ends up at `tmp` and is removed.
      if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) != 0)
        throw error(fmt::format("checkpoint: cannot replace {}: {}", dir.string(), std::strerror(errno)));
      fs::remove_all(tmp);
    } else {
      fs::rename(tmp, dir);
    }
    fsync_dir(parent);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

loaded_checkpoint load_checkpoint(const fs::path& dir) {
  LMLAB_CHECK_HINT(fs::is_directory(dir), "a checkpoint is the folder train writes, e.g. runs/gpt/checkpoint",
                   "checkpoint: {} is not a folder", dir.string());
  loaded_checkpoint out;
  out.dir = dir;
  const fs::path cfg_path = dir / "config.json";
  nlohmann::json cj;
  try {
    cj = nlohmann::json::parse(read_text_file(cfg_path));
  } catch (const nlohmann::json::exception& e) {
    throw error(fmt::format("{}: not valid JSON: {}", cfg_path.string(), e.what()));
  }
  out.config = models::lm_config_from_hf_json(cj, cfg_path.string());
  out.model = std::make_unique<models::lm>(out.config, 0);
  auto weights = nn::safetensors_file::load(dir / "model.safetensors");
  nn::load_parameters(*out.model, weights);
  const fs::path st = dir / "trainer_state.json";
  if (fs::exists(st)) {
    try {
      out.trainer_state = nlohmann::json::parse(read_text_file(st));
    } catch (const nlohmann::json::exception& e) {
      throw error(fmt::format("{}: not valid JSON: {}", st.string(), e.what()));
    }
  }
  if (fs::exists(dir / "tokenizer.json")) {
    try {
      out.tokenizer = nlohmann::json::parse(read_text_file(dir / "tokenizer.json"));
    } catch (const nlohmann::json::exception& e) {
      throw error(fmt::format("{}: not valid JSON: {}", (dir / "tokenizer.json").string(), e.what()));
    }
  }
  return out;
}

void load_weights(const fs::path& dir, const models::causal_lm& model) {
  nn::load_parameters(model, nn::safetensors_file::load(dir / "model.safetensors"));
}

void load_optimizer_state(const fs::path& dir, adamw& opt, std::int64_t step) {
  auto f = nn::safetensors_file::load(dir / "optimizer.safetensors");
  opt.load_state([&](const std::string& name, const shape_t& shape) -> const tensor& { return f.get(name, shape, dtype::f32); },
                 step);
}

}  // namespace lmlab::train
