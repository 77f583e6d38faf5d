// safetensors: round trip, and damaged files rejected with a message naming the file.
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace cohort {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("cohort_st_" + name)).string();
}

void write_raw(const std::string& path, const std::string& header, size_t data_bytes) {
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = header.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << header << std::string(data_bytes, '\0');
}

TEST(Safetensors, RoundTrip) {
  SafetensorsFile f;
  const float a[6] = {1, 2, 3, 4, 5, 6};
  const int32_t b[2] = {-7, 9};
  f.put_floats("a", {2, 3}, a);
  f.put_ints("b", {2}, b);
  f.metadata()["format"] = "pt";
  const std::string path = temp_path("roundtrip");
  f.write(path);
  const auto g = SafetensorsFile::read(path);
  EXPECT_EQ(g.floats("a"), std::vector<float>(a, a + 6));
  EXPECT_EQ(g.ints("b"), std::vector<int32_t>(b, b + 2));
  EXPECT_EQ(g.at("a").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(g.metadata().at("format"), "pt");
  EXPECT_THROW(g.floats("b"), Error);  // wrong dtype
  EXPECT_THROW(g.at("c"), Error);
  std::remove(path.c_str());
}

TEST(Safetensors, RejectsDamagedFiles) {
  const std::string path = temp_path("bad");
  auto expect_error = [&](const std::string& header, size_t data, const std::string& needle) {
    write_raw(path, header, data);
    try {
      SafetensorsFile::read(path);
      ADD_FAILURE() << "accepted: " << header;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("not json", 0, "JSON");
  expect_error(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4, "outside");
  expect_error(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "need");
  expect_error(R"({"x":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", 8, "dtype");
  expect_error(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "shape");
  expect_error(R"({"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", 8,
               "larger");
  expect_error(R"({"x":{"dtype":"F32"}})", 8, "needs");
  {  // a header length larger than the file
    std::ofstream out(path, std::ios::binary);
    const uint64_t len = 1ull << 40;
    out.write(reinterpret_cast<const char*>(&len), 8);
  }
  EXPECT_THROW(SafetensorsFile::read(path), Error);
  EXPECT_THROW(SafetensorsFile::read(path + ".missing"), Error);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace cohort
