// `lmlab serve` for the VLM lab's checkpoints (vlm/checkpoint.hpp): chat requests carry one image
// as an OpenAI `image_url` part with a PNG or JPEG data URI, and the lab VLM answers about it.
//   images   decoded (vlm/image_io.hpp), then resampled to the model's canvas: each output pixel
//            the mean of the input pixels whose centres fall inside it (an image that is an
//            integer multiple of the canvas, like the pope suite's 8x upscaled scenes, comes
//            back exactly; a smaller one is sampled nearest). Refused with a 400 JSON error:
//            a URL that is not a data:image/png or data:image/jpeg base64 URI (code
//            invalid_image_url), bytes that are not a PNG or JPEG we read (invalid_image), more
//            pixels than server_limits::max_image_pixels (image_too_large, from the PNG or JPEG
//            header, before any pixel is decoded), an
//            image sent to a text-only model (images_not_supported), more than one image.
//   prompt   the lab VLM was trained on "is there a circle ?", "what colour is the ring ?",
//            "is the cross left of the square ?" over its scene vocabulary (vlm/scene.hpp), with
//            the answer read at "?". Its chat template takes the last user message, lower-cased,
//            up to its first "?", maps POPE's wording onto those words ("horizontal bar" ->
//            hbar, "vertical bar" -> vbar, the phrase "in the image" dropped) and keeps the words
//            in the vocabulary ("Is there a circle in the image? Answer yes or no." reads as "is
//            there a circle ?"). Completions see the scene-word tokenizer directly: a word outside
//            the vocabulary is a 400 naming it.
//   answer   one word: after the first generated token the model emits <eos> (it was trained to
//            answer in one token at "?"). A request without an image sees a blank canvas.
// Decoding recomputes image tokens + text every token (the model is tiny; no KV cache).
// Not for: the model or its training (vlm/), the HTTP side (server.hpp, protocol.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

#include "serve/model_adapter.hpp"
#include "serve/protocol.hpp"

namespace lmlab::serve {

// Whether `dir` holds a VLM checkpoint (false in a build without the vlm layer).
bool is_vlm_checkpoint_dir(const std::filesystem::path& dir);
// Loads it as a served model (name: the folder's, as load_served_model names it).
served_model load_vlm_served_model(const std::filesystem::path& dir, const std::string& name);

// One chat content part {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}
// decoded to f32 (3, H, W), for model `m`; api_error 400 as listed above, `where` naming the part
// ("messages[0].content[1]").
tensor decode_image_part(const nlohmann::json& part, const std::string& where, const served_model& m, const server_limits& lim);

// image (3, H, W) -> (3, side, side) by the area rule above.
tensor resample_image(const tensor& image, std::int64_t side);

}  // namespace lmlab::serve
