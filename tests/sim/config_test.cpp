// Config tree: includes, overrides, and the messages for unknown keys, wrong types, missing
// files and bad includes (each must name file:line and key path).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sim/builtin_components.h"
#include "sim/config.h"
#include "sim/params.h"
#include "sim/simulation.h"
#include "tests/sim/input_error.h"
#include "tests/sim/temp_dir_fixture.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;

class ConfigFiles : public TempDirTest {
 protected:
  ConfigFiles() : TempDirTest("cfg") {}
};

struct Inner {
  Bandwidth bw = Bandwidth::parse("1GB/s");
  int32_t count = 3;
  template <class V>
  void visit(V& v) {
    v("bw", bw, "B/s", "a bandwidth");
    v("count", count, "count", "a count");
  }
  void validate(const ParamCheck& c) const { c.require(count > 0, "count", "must be > 0"); }
};

struct Outer {
  std::string label = "x";
  Inner inner;
  template <class V>
  void visit(V& v) {
    v("label", label, "-", "a label");
    v.group("inner", inner, "nested");
  }
};

TEST_F(ConfigFiles, IncludeMergesThenOwnKeysOverride) {
  write("presets/base.yaml", "inner:\n  bw: 5GB/s\n  count: 7\nlabel: base\n");
  fs::path top = write("top.yaml", "include: presets/base.yaml\ninner:\n  count: 9\n");
  ConfigNode root = load_config_file(top);
  Outer o = read_params<Outer>(&root, "");
  EXPECT_EQ(o.label, "base");
  EXPECT_DOUBLE_EQ(o.inner.bw.bytes_per_s(), 5e9);
  EXPECT_EQ(o.inner.count, 9);
}

TEST_F(ConfigFiles, IncludeAtNestedLevelAndLists) {
  write("a.yaml", "bw: 2GB/s\ncount: 1\n");
  write("b.yaml", "count: 4\n");
  fs::path top = write("top.yaml", "inner:\n  include: [a.yaml, b.yaml]\n");
  Outer o = read_params<Outer>(nullptr, "");
  ConfigNode root = load_config_file(top);
  o = read_params<Outer>(&root, "");
  EXPECT_DOUBLE_EQ(o.inner.bw.bytes_per_s(), 2e9);
  EXPECT_EQ(o.inner.count, 4);  // later include wins
}

TEST_F(ConfigFiles, OverrideWinsAndParsesYamlValues) {
  fs::path top = write("top.yaml", "inner:\n  count: 2\n");
  ConfigNode root = load_config_file(top);
  apply_override(root, "inner.count=11");
  apply_override(root, "inner.bw=3TB/s");
  Outer o = read_params<Outer>(&root, "");
  EXPECT_EQ(o.inner.count, 11);
  EXPECT_DOUBLE_EQ(o.inner.bw.bytes_per_s(), 3e12);
}

TEST_F(ConfigFiles, UnknownKeyNamesFileLineAndPathWithSuggestion) {
  fs::path top = write("top.yaml", "label: a\ninner:\n  bw: 1GB/s\n  cuont: 2\n");
  ConfigNode root = load_config_file(top);
  std::string e = error_of([&] { read_params<Outer>(&root, ""); });
  EXPECT_NE(e.find(top.string() + ":4: inner.cuont: unknown key (did you mean 'count'?)"),
            std::string::npos)
      << e;
}

TEST_F(ConfigFiles, WrongTypeNamesFileLineAndPath) {
  fs::path top = write("top.yaml", "inner:\n  count: many\n");
  ConfigNode root = load_config_file(top);
  std::string e = error_of([&] { read_params<Outer>(&root, ""); });
  EXPECT_NE(e.find(top.string() + ":2: inner.count: expected an integer, got 'many'"),
            std::string::npos)
      << e;
  fs::path top2 = write("top2.yaml", "inner:\n  bw: fast\n");
  ConfigNode root2 = load_config_file(top2);
  e = error_of([&] { read_params<Outer>(&root2, ""); });
  EXPECT_NE(e.find(":2: inner.bw: 'fast' is not a bandwidth"), std::string::npos) << e;
  fs::path top3 = write("top3.yaml", "inner: [1, 2]\n");
  ConfigNode root3 = load_config_file(top3);
  e = error_of([&] { read_params<Outer>(&root3, ""); });
  EXPECT_NE(e.find("inner: expected a mapping, got a list"), std::string::npos) << e;
}

TEST_F(ConfigFiles, ValidationFailureNamesTheKey) {
  fs::path top = write("top.yaml", "inner:\n  count: 0\n");
  ConfigNode root = load_config_file(top);
  std::string e = error_of([&] { read_params<Outer>(&root, ""); });
  EXPECT_NE(e.find(":2: inner.count: must be > 0"), std::string::npos) << e;
}

// A check on a nested value (a dotted key) points at that value: its line in the file, or the
// --set that gave it.
struct Checked {
  Outer outer;
  template <class V>
  void visit(V& v) {
    v.group("outer", outer, "nested twice");
  }
  void validate(const ParamCheck& c) const {
    c.require(outer.inner.count != 5, "outer.inner.count", "must not be 5");
  }
};

TEST_F(ConfigFiles, ValidationOfANestedKeyNamesItsLine) {
  fs::path top = write("top.yaml", "outer:\n  label: a\n  inner:\n    bw: 1GB/s\n    count: 5\n");
  ConfigNode root = load_config_file(top);
  std::string e = error_of([&] { read_params<Checked>(&root, ""); });
  EXPECT_NE(e.find(top.string() + ":5: outer.inner.count: must not be 5"), std::string::npos) << e;
  fs::path top2 = write("top2.yaml", "outer:\n  label: a\n  inner:\n    count: 2\n");
  ConfigNode root2 = load_config_file(top2);
  apply_override(root2, "outer.inner.count=5");
  e = error_of([&] { read_params<Checked>(&root2, ""); });
  EXPECT_NE(e.find("--set outer.inner.count=5: outer.inner.count: must not be 5"),
            std::string::npos)
      << e;
}

TEST_F(ConfigFiles, MissingFileAndBadIncludes) {
  std::string e = error_of([&] { load_config_file(dir_ / "nope.yaml"); });
  EXPECT_NE(e.find("nope.yaml: cannot open file"), std::string::npos) << e;

  fs::path top = write("top.yaml", "label: a\ninclude: missing.yaml\n");
  e = error_of([&] { load_config_file(top); });
  EXPECT_NE(e.find(top.string() + ":2: include: cannot open file"), std::string::npos) << e;

  write("loop_a.yaml", "include: loop_b.yaml\n");
  write("loop_b.yaml", "include: loop_a.yaml\n");
  e = error_of([&] { load_config_file(dir_ / "loop_a.yaml"); });
  EXPECT_NE(e.find("include cycle"), std::string::npos) << e;

  fs::path bad = write("bad.yaml", "include: {a: 1}\n");
  e = error_of([&] { load_config_file(bad); });
  EXPECT_NE(e.find("include must be a path or a list of paths"), std::string::npos) << e;
}

TEST_F(ConfigFiles, InvalidYamlAndDuplicateKeys) {
  fs::path bad = write("bad.yaml", "a: [1, 2\n");
  std::string e = error_of([&] { load_config_file(bad); });
  EXPECT_NE(e.find(bad.string() + ":"), std::string::npos) << e;
  EXPECT_NE(e.find("invalid YAML"), std::string::npos) << e;
  fs::path dup = write("dup.yaml", "label: a\nlabel: b\n");
  e = error_of([&] { load_config_file(dup); });
  EXPECT_NE(e.find(dup.string() + ":2: label: duplicate key"), std::string::npos) << e;
}

// yaml-cpp keeps YAML's merge key `<<` as a plain key: it would surface as a missing `type`
// or an unknown key. It is refused where YAML is read, in files and in --set values alike.
TEST_F(ConfigFiles, MergeKeysAreRefusedWhereTheYamlIsRead) {
  fs::path f = write("m.yaml", "hardware:\n  gpu: {<<: {type: roofline}, bf16: 900TFLOP/s}\n");
  std::string e = error_of([&] { load_config_file(f); });
  EXPECT_EQ(e, f.string() +
                   ":2: hardware.gpu: '<<' merge keys are not supported (write the keys out, or "
                   "share them through include:)");
  // With an anchor, in a block mapping, below the top level; and in an included file.
  f = write("a.yaml", "base: &b {type: roofline}\nhardware:\n  gpu:\n    <<: *b\n");
  e = error_of([&] { load_config_file(f); });
  EXPECT_NE(e.find(f.string() + ":4: hardware.gpu: '<<' merge keys are not supported"),
            std::string::npos)
      << e;
  const fs::path top = write("top.yaml", "include: m.yaml\n");
  e = error_of([&] { load_config_file(top); });
  EXPECT_NE(e.find("m.yaml:2: hardware.gpu: '<<' merge keys"), std::string::npos) << e;
  ConfigNode root = ConfigNode::map();
  e = error_of([&] { apply_override(root, "hardware.gpu={<<: {type: roofline}}"); });
  EXPECT_NE(e.find("hardware.gpu: '<<' merge keys are not supported"), std::string::npos) << e;
  // A key that merely contains the characters is an ordinary (unknown) key.
  EXPECT_EQ(error_of([&] { load_config_string("a: {'x<<': 1}\n", "t.yaml", "."); }), "no error");
}

TEST(Config, OverrideSyntaxErrors) {
  ConfigNode root = ConfigNode::map();
  EXPECT_NE(error_of([&] { apply_override(root, "novalue"); }).find("expected KEY.PATH=VALUE"),
            std::string::npos);
  EXPECT_NE(error_of([&] { apply_override(root, "a..b=1"); }).find("empty key"), std::string::npos);
}

// `--set key=~` (or `null`) removes a key the config gives, so that it takes its default; a key
// that is not there is an error, since a misspelt key would otherwise unset nothing.
TEST(Config, OverrideNullRemovesTheKey) {
  ConfigNode root = load_config_string("a: {b: 1, c: {d: 2, e: 3}}\n", "t.yaml", ".");
  apply_override(root, "a.b=~");
  EXPECT_EQ(root.at_path("a.b"), nullptr);
  ASSERT_NE(root.at_path("a.c.d"), nullptr);
  apply_override(root, "a.c.d= null ");
  EXPECT_EQ(root.at_path("a.c.d"), nullptr);
  EXPECT_EQ(root.at_path("a.c.e")->as_string(), "3");
  // In one layer, in order: set again after the unset, the value stands; unset after a set of
  // the same command line, the key is gone.
  apply_overrides(root, {"a.c=~", "a.c.f=4"});
  EXPECT_EQ(root.at_path("a.c.e"), nullptr);
  EXPECT_EQ(root.at_path("a.c.f")->as_string(), "4");
  apply_overrides(root, {"a.g=5", "a.g=NULL"});
  EXPECT_EQ(root.at_path("a.g"), nullptr);
  EXPECT_NE(error_of([&] { apply_override(root, "a..b=~"); }).find("'a..b=~': empty key in path"),
            std::string::npos);
  for (const char* missing : {"a.b=~", "a.zz=~", "zz.y=~", "a.c.f.deeper=~"}) {
    const std::string e = error_of([&] { apply_override(root, missing); });
    const std::string key = std::string(missing).substr(0, std::string(missing).find('='));
    EXPECT_NE(e.find("--set '" + std::string(missing) + "': " + key +
                     " is not set, so there is nothing to unset"),
              std::string::npos)
        << e;
  }
  // An empty value is a key given no value (reported when the key is read), and a quoted
  // tilde is the string "~": neither unsets.
  apply_override(root, "a.h=");
  ASSERT_NE(root.at_path("a.h"), nullptr);
  EXPECT_TRUE(root.at_path("a.h")->is_null());
  apply_override(root, "a.c.f='~'");
  EXPECT_EQ(root.at_path("a.c.f")->as_string(), "~");
}

TEST(Config, ScenarioUnknownKeysAtEveryLevel) {
  Components comps = make_builtin_components();
  auto check = [&](const std::string& set, const std::string& expect) {
    ConfigNode root = load_config_string(
        "cluster: {type: single_switch}\nhardware: {gpu: {type: roofline}, memory: {type: "
        "fixed_bandwidth}, nic: {type: fixed_latency}, switch: {type: fixed_latency}}\n"
        "workload: {type: pairwise_exchange}\n",
        "t.yaml", ".");
    apply_override(root, set);
    std::string e = error_of([&] { validate_scenario(root, comps); });
    EXPECT_NE(e.find(expect), std::string::npos) << set << " -> " << e;
  };
  check("no.such.key=1", "--set no.such.key=1: no: unknown key");
  check("hardware.gpu.bf17=1TFLOP/s", "hardware.gpu.bf17: unknown key (did you mean 'bf16'?)");
  check("hardware.gpus={type: roofline}", "hardware.gpus: unknown key (did you mean 'gpu'?)");
  check("hardware.gpu.type=tpu", "hardware.gpu.type: unknown gpu type 'tpu' (one of:");
  check("workload.gemm.dtype=fp7", "workload.gemm.dtype: 'fp7' is not one of: fp8, bf16");
  check("cluster.nodes=0", "cluster.nodes: must be >= 1");
  check("sim.max_time=soon", "sim.max_time: 'soon' is not a time");
}

TEST(Config, ResolvedConfigFillsEveryDefault) {
  Components comps = make_builtin_components();
  ConfigNode root = load_config_string(
      "cluster: {type: single_switch}\nhardware: {gpu: {type: roofline}, memory: {type: "
      "fixed_bandwidth}, nic: {type: fixed_latency}, switch: {type: fixed_latency}}\n"
      "workload: {type: pairwise_exchange}\n",
      "t.yaml", ".");
  ConfigNode resolved = validate_scenario(root, comps);
  ASSERT_NE(resolved.at_path("hardware.memory.bandwidth"), nullptr);
  EXPECT_EQ(resolved.at_path("hardware.memory.bandwidth")->as_string(), "3.35TB/s");
  ASSERT_NE(resolved.at_path("workload.gemm.dtype"), nullptr);
  EXPECT_EQ(resolved.at_path("workload.gemm.dtype")->as_string(), "bf16");
  ASSERT_NE(resolved.at_path("sim.max_time"), nullptr);
  ASSERT_NE(resolved.at_path("seed"), nullptr);
  // The resolved config is itself a valid scenario that resolves to the same thing.
  ConfigNode again = load_config_string(resolved.to_yaml(), "resolved.yaml", ".");
  EXPECT_EQ(validate_scenario(again, comps).to_yaml(), resolved.to_yaml());
}

// A 444-byte malformed file (NUL bytes among comments) the config fuzzer found: asking
// YAML::LoadAll for its documents never returned (memory grew until the process was killed).
// It is now refused at once.
TEST(ConfigText, MalformedBytesFromTheFuzzerAreRefusedAtOnce) {
  const std::string text(
      "# Incast: 16 hosts each send 4 x 256"
      " K\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000"
      "\000\000\000\000\000\000\000\000\000\000\000\000"
      "\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000"
      "\000\000\000\000\000\000\000\000\000\000\000\000\000"
      "\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000"
      "\000\012, buff\000\000\000\000\000"
      "\000\000\000\000\000\000\000\000\000\000\000\000iB to host 0 at once on "
      "a two-tier fat-tree of 32\012# single-G"
      "PU hosts. The last hop into \037host 0 "
      "is the bottleneck; with small switch"
      " buffers\012# (32 KiB per port) the cre"
      "dit back-pressure climbs from host 0"
      "'s leaf throue: de%f\003ault.yaml@name:"
      " inc\012--set sim.max_tmemoryime=1mgh t"
      "h\320\317\317\317\317\317\317\3170B\012",
      444);
  EXPECT_THROW(load_config_string(text, "fuzz.yaml", ""), ConfigError);
}

}  // namespace
}  // namespace mlasim
