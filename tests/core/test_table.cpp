#include "core/table.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.hpp"

TEST(table, formats) {
  lmlab::table t({"name", "value"});
  t.add_row({"a,b", 1.5});
  t.add_row({"c", std::int64_t{7}});
  EXPECT_EQ(t.to_string(lmlab::table_format::csv), "name,value\n\"a,b\",1.5\nc,7\n");
  auto j = nlohmann::json::parse(t.to_string(lmlab::table_format::json));
  EXPECT_EQ(j[0]["name"], "a,b");
  EXPECT_EQ(j[1]["value"], 7);
  EXPECT_EQ(t.to_string(lmlab::table_format::md), "| name | value |\n|------|-------|\n| a,b  |   1.5 |\n| c    |     7 |\n");
  EXPECT_EQ(t.to_string(lmlab::table_format::jsonl), "{\"name\":\"a,b\",\"value\":1.5}\n{\"name\":\"c\",\"value\":7}\n");
}

TEST(table, number_display) {
  EXPECT_EQ(lmlab::format_number(1e21), "1.000e+21");
  EXPECT_EQ(lmlab::format_number(0.5), "0.5");
  EXPECT_EQ(lmlab::format_number(1234), "1234");
  EXPECT_EQ(lmlab::format_number(3.14159), "3.142");
}

TEST(table, unknown_format_is_usage_error) {
  EXPECT_THROW(lmlab::parse_table_format("xml"), lmlab::usage_error);
}
