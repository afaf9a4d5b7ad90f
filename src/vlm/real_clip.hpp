// Contrastive image-text training on real images (task "vlm_clip_real", a lab runner): the
// VLM lab's ViT and bag-of-words text tower (model.hpp) under the CLIP loss, on
//   fashion  Fashion-MNIST (fashion_mnist.hpp) captioned with its class names; scored as CLIP
//            scores zero-shot classification (Radford et al. 2021 sec. 3.1.1): each image takes
//            the class whose name's embedding is nearest (cosine), on held-out test images;
//   emoji    Noto Color Emoji bitmaps (emoji.hpp) captioned with their CLDR names; a random
//            share of the emoji is held out (task.test_share), and retrieval is scored among
//            the held-out emoji: each image against every held-out name, top-1 and top-5, and
//            each name against every held-out image. The held-out names were never trained on;
//            only their words can have been (words never seen map to <unk>).
// Each is also scored on training items, the in-distribution skill a finding needs first:
//   test/<train|heldout> accuracy      fashion: nearest-class accuracy (chance 0.1)
//   test/heldout centroid_accuracy     fashion: the pixel baseline, nearest class mean of the
//                                      training pixels (cosine); gain_over_centroid: accuracy
//                                      minus it, paired within the run
//   test/<train|heldout> top1, top5, text_top1, chance   emoji: among n candidates (chance 1/n;
//                                      "train" draws n training emoji, so both have the same n)
//   test/heldout lift                  emoji: top1 / chance
// Run metrics: clip_loss (mean of the last tenth of the steps), n_params, steps, vocab.
// Not for: the generated scenes and the three-stage VLM (runner.hpp).
#pragma once

#include <cstdint>
#include <string>

namespace lmlab::vlm {

struct clip_real_task {
  std::string dataset = "fashion";  // fashion | emoji
  std::int64_t side = 28;           // image side in pixels (emoji: thumbnails of this side)
  std::int64_t patch = 7, vit_d = 32, vit_layers = 1, vit_heads = 2;
  std::int64_t train_items = 4000;  // fashion: first items of the training split
  std::int64_t test_items = 1000;   // fashion: first items of the test split
  double test_share = 0.2;          // emoji: share held out (a seeded shuffle)
};
// Cross-key checks (canonical() runs it): patch divides side, heads divide vit_d, fashion's side is 28.
void check(const clip_real_task& t);

// Registers the task "vlm_clip_real" and its runner (once).
void register_clip_real();

}  // namespace lmlab::vlm
