// The router's loads of every routing in a step (InferenceFacts::load_*): their check when read
// from a trace (and that of the prefill prompt figures), and the two CSV files of a run's
// results. Each routing is a routed layer of one EP group, micro-batch and prefill pass; its
// `routing` number counts the routings of its layer by EP group, then micro-batch, then pass
// (the pass varies fastest), so that layers.csv's expert_load_imbalance of a layer is the mean
// over its routings of max / mean tokens per expert (gpu_load_imbalance the same over
// token-expert pairs per GPU).
#pragma once

#include <map>
#include <string>
#include <utility>

#include "workloads/inference_report.h"

namespace mlasim {

// What is wrong with the router figures of `f` as read from a trace (the per-layer imbalance
// lists' lengths, the loads): the field and the message, or an empty field when nothing is.
std::pair<std::string, std::string> router_fields_error(const InferenceFacts& f);

// The same for the prefill prompt figures (prompts_done's size and sum, carried_prompts'
// triples). (Here, beside the router's check, so that the trace reader links without the
// report.)
std::pair<std::string, std::string> prompt_fields_error(const InferenceFacts& f);

// expert_loads.csv (layer, routing, expert, tokens) and gpu_loads.csv (layer, routing, gpu,
// token_expert_pairs), added to `files` when the facts have loads.
void add_routing_load_files(const InferenceFacts& f, std::map<std::string, std::string>& files);

}  // namespace mlasim
