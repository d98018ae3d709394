// read_csv: values, header detection and label columns of small generated files, and one
// vae::Error "<path>:<line>: ..." (or "<path>: ..." for whole-file faults) for each bad input.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"
#include "vae/error.h"
#include "vae/readers.h"

namespace {

using vae_test::TempDir;
using vae_test::write_bytes;

// Writes `text` as data.csv in `dir` and reads it back.
vae::Dataset read_text(const TempDir& dir, const std::string& text,
                       const std::string& label_column = "") {
  write_bytes(dir.file("data.csv"), text);
  vae::CsvOptions options;
  options.label_column = label_column;
  return vae::read_csv(dir.file("data.csv"), options);
}

// The message of the vae::Error that reading `text` throws, or "" when none is thrown.
std::string error_of(const TempDir& dir, const std::string& text,
                     const std::string& label_column = "") {
  try {
    read_text(dir, text, label_column);
  } catch (const vae::Error& e) {
    return e.what();
  }
  return "";
}

TEST(ReadCsv, NoHeaderAllRowsAreData) {
  TempDir dir;
  const vae::Dataset ds = read_text(dir, "1,2,3\n4,5,6\n");
  EXPECT_EQ(ds.n, 2u);
  EXPECT_EQ(ds.d, 3u);
  EXPECT_EQ(ds.x, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(ds.labels.empty());
  EXPECT_EQ(ds.height, 0);
  EXPECT_EQ(ds.width, 0);
  EXPECT_EQ(ds.channels, 0);
}

TEST(ReadCsv, FirstLineWithTextIsHeader) {
  TempDir dir;
  // One text field is enough; the last line has no '\n'.
  const vae::Dataset ds = read_text(dir, "a,2\n1,2\n3,4");
  EXPECT_EQ(ds.n, 2u);
  EXPECT_EQ(ds.x, (std::vector<float>{1, 2, 3, 4}));
}

TEST(ReadCsv, LabelByHeaderName) {
  TempDir dir;
  const vae::Dataset ds = read_text(dir, "x,label,y\n1.5,0,2\n3,7,4\n", "label");
  EXPECT_EQ(ds.n, 2u);
  EXPECT_EQ(ds.d, 2u);
  EXPECT_EQ(ds.x, (std::vector<float>{1.5f, 2, 3, 4}));
  EXPECT_EQ(ds.labels, (std::vector<int32_t>{0, 7}));
}

TEST(ReadCsv, LabelByIndexWithAndWithoutHeader) {
  TempDir dir;
  vae::Dataset ds = read_text(dir, "5,1,2\n6,3,4\n", "0");
  EXPECT_EQ(ds.d, 2u);
  EXPECT_EQ(ds.x, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(ds.labels, (std::vector<int32_t>{5, 6}));

  ds = read_text(dir, "a,b,c\n1,2,3\n", "2");
  EXPECT_EQ(ds.x, (std::vector<float>{1, 2}));
  EXPECT_EQ(ds.labels, (std::vector<int32_t>{3}));
}

TEST(ReadCsv, HeaderNameWinsOverIndex) {
  TempDir dir;
  // "1" names column 0 here; as an index it would be column 1.
  const vae::Dataset ds = read_text(dir, "1,a\n4,9\n", "1");
  EXPECT_EQ(ds.labels, (std::vector<int32_t>{4}));
  EXPECT_EQ(ds.x, (std::vector<float>{9}));
}

TEST(ReadCsv, LabelsWrittenAsWholeFloatsAreAccepted) {
  TempDir dir;
  const vae::Dataset ds = read_text(dir, "1,3.0\n2,1e1\n", "1");
  EXPECT_EQ(ds.labels, (std::vector<int32_t>{3, 10}));
}

TEST(ReadCsv, QuotedFieldsAndEscapedQuotes) {
  TempDir dir;
  const std::string text = "\"a\", \"say \"\"hi\"\"\" ,\"c,d\"\n\"1.5\",\" 2 \", 3\n";
  const vae::Dataset ds = read_text(dir, text, "say \"hi\"");
  EXPECT_EQ(ds.n, 1u);
  EXPECT_EQ(ds.x, (std::vector<float>{1.5f, 3}));
  EXPECT_EQ(ds.labels, (std::vector<int32_t>{2}));
  // The quoted comma stays inside its field: three columns, so "c,d" is one name.
  EXPECT_EQ(read_text(dir, text, "c,d").labels, (std::vector<int32_t>{3}));
}

TEST(ReadCsv, CrlfBlankLinesAndByteOrderMark) {
  TempDir dir;
  const vae::Dataset ds = read_text(dir, "\xEF\xBB\xBFh1,h2\r\n\r\n1,2\r\n \t \r\n\n3,4\r\n\r\n");
  EXPECT_EQ(ds.n, 2u);
  EXPECT_EQ(ds.x, (std::vector<float>{1, 2, 3, 4}));
  // Without a header the mark would otherwise glue itself to the first number.
  EXPECT_EQ(read_text(dir,
                      "\xEF\xBB\xBF"
                      "1,2\n")
                .x,
            (std::vector<float>{1, 2}));
}

TEST(ReadCsv, NumberFormsStrtodAccepts) {
  TempDir dir;
  const vae::Dataset ds = read_text(dir, " +1 ,-2.5e3,.5,1.,1E2,-0,1e-400\n");
  ASSERT_EQ(ds.d, 7u);
  EXPECT_EQ(ds.x, (std::vector<float>{1, -2500, 0.5f, 1, 100, 0, 0}));
}

TEST(ReadCsv, ManyRowsKeepOrder) {
  TempDir dir;
  std::string text = "v,w\n";
  for (int i = 0; i < 1000; ++i) text += std::to_string(i) + "," + std::to_string(-i) + "\n";
  const vae::Dataset ds = read_text(dir, text);
  ASSERT_EQ(ds.n, 1000u);
  EXPECT_EQ(ds.x[2 * 999], 999.f);
  EXPECT_EQ(ds.x[2 * 999 + 1], -999.f);
}

TEST(ReadCsvErrors, EmptyAndBlankFilesHaveNoRows) {
  TempDir dir;
  const std::string p = dir.file("data.csv");
  EXPECT_EQ(error_of(dir, ""), p + ": no rows (the file is empty)");
  EXPECT_EQ(error_of(dir, "\n\r\n  \n"), p + ": no rows (the file is empty)");
  EXPECT_EQ(error_of(dir, "a,b\n\n"), p + ": no rows (only a header line)");
}

TEST(ReadCsvErrors, MissingFile) {
  TempDir dir;
  try {
    vae::read_csv(dir.file("absent.csv"));
    FAIL() << "no error";
  } catch (const vae::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(dir.file("absent.csv") + ": cannot open", 0), 0u)
        << e.what();
  }
}

TEST(ReadCsvErrors, RaggedRowsNameLineAndCounts) {
  TempDir dir;
  const std::string p = dir.file("data.csv");
  EXPECT_EQ(error_of(dir, "1,2\n\n3\n"),
            p + ":3: 1 field, but line 1 has 2; every row must have the same number of fields");
  EXPECT_EQ(error_of(dir, "a,b\n1,2\n3,4,5,6\n"),
            p + ":3: 4 fields, but line 1 has 2; every row must have the same number of fields");
}

TEST(ReadCsvErrors, ValuesThatAreNotFiniteNumbers) {
  TempDir dir;
  const std::string p = dir.file("data.csv");
  EXPECT_EQ(error_of(dir, "a,b\n1,x\n"), p + ":2: column 2 ('b'): 'x' is not a number");
  EXPECT_EQ(error_of(dir, "1,2\n3,nan\n"), p + ":2: column 2: 'nan' is not a number");
  EXPECT_EQ(error_of(dir, "nan,2\n"), p + ":1: column 1: 'nan' is not a number");
  EXPECT_EQ(error_of(dir, "1,-inf\n"), p + ":1: column 2: '-inf' is not a number");
  EXPECT_EQ(error_of(dir, "a,b\n1,\n"), p + ":2: column 2 ('b'): '' is not a number");
  EXPECT_EQ(error_of(dir, "a\n1 2\n"),
            p + ":2: column 1 ('a'): '1 2' is not a number (fields are separated by ','; if this "
                "file uses 'space', set delimiter to space)");
  EXPECT_EQ(error_of(dir, "a\n0x10\n"), p + ":2: column 1 ('a'): '0x10' is not a number");
  EXPECT_EQ(error_of(dir, "a\n1e\n"), p + ":2: column 1 ('a'): '1e' is not a number");
  EXPECT_EQ(error_of(dir, "a\n+-1\n"), p + ":2: column 1 ('a'): '+-1' is not a number");
  EXPECT_EQ(error_of(dir, "a\n1e400\n"),
            p + ":2: column 1 ('a'): '1e400' is out of the float range");
  EXPECT_EQ(error_of(dir, "a\n1e39\n"), p + ":2: column 1 ('a'): '1e39' is out of the float range");
  // A NUL byte is escaped in the message, which stays one line.
  EXPECT_EQ(error_of(dir, std::string("a\n1\0002\n", 6)),
            p + ":2: column 1 ('a'): '1\\x002' is not a number");
}

TEST(ReadCsvErrors, EnormousLineGivesShortMessage) {
  TempDir dir;
  const std::string msg = error_of(dir, "a\n" + std::string(1 << 20, 'x') + "\n");
  EXPECT_EQ(msg.rfind(dir.file("data.csv") + ":2: column 1 ('a'): 'xxx", 0), 0u) << msg;
  EXPECT_LT(msg.size(), 200u);
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(ReadCsvErrors, BadQuoting) {
  TempDir dir;
  const std::string p = dir.file("data.csv");
  EXPECT_EQ(error_of(dir, "1,\"2\n3\"\n"),
            p + ":1: column 2: quoted field has no closing '\"' on this line");
  EXPECT_EQ(error_of(dir, "a,b\n1,\"2\"3\n"),
            p + ":2: column 2 ('b'): text after the closing '\"' of a quoted field");
}

TEST(ReadCsvErrors, LabelColumnMissingOrOutOfRange) {
  TempDir dir;
  const std::string p = dir.file("data.csv");
  EXPECT_EQ(error_of(dir, "a,b\n1,2\n", "label"),
            p + ": no column named 'label' (header: 'a', 'b')");
  EXPECT_EQ(error_of(dir, "1,2\n", "label"),
            p + ": no column named 'label': the file has no header line (give a 0-based "
                "column index instead)");
  EXPECT_EQ(error_of(dir, "1,2\n", "2"),
            p + ": label column index 2 is out of range: rows have 2 fields (indexes 0 to 1)");
  EXPECT_EQ(error_of(dir, "1,2\n", "99999999999999999999999"),
            p + ": label column index 99999999999999999999999 is out of range: rows have 2 "
                "fields (indexes 0 to 1)");
  EXPECT_EQ(error_of(dir, "y,y\n1,2\n", "y"),
            p + ": label column 'y' is ambiguous: 2 header fields have that name");
  EXPECT_EQ(error_of(dir, "y\n1\n", "y"),
            p + ": the label column is the only column; no values are left for x");
}

TEST(ReadCsvErrors, LabelsMustBeNonNegativeIntegers) {
  TempDir dir;
  const std::string p = dir.file("data.csv");
  EXPECT_EQ(error_of(dir, "x,label\n1,2\n1,1.5\n", "label"),
            p + ":3: column 2 ('label'): label '1.5' is not a non-negative integer");
  EXPECT_EQ(error_of(dir, "1,-1\n", "1"),
            p + ":1: column 2: label '-1' is not a non-negative integer");
  EXPECT_EQ(error_of(dir, "1,3e9\n", "1"),
            p + ":1: column 2: label '3e9' is not a non-negative integer");
  // A column whose first label is a number holds numbers; a name later is an error.
  EXPECT_EQ(error_of(dir, "x,label\n1,2\n1,cat\n", "label"),
            p + ":3: column 2 ('label'): label 'cat' is not a non-negative integer");
}

}  // namespace

namespace {

vae::Dataset read_with(const TempDir& dir, const std::string& text, char delimiter,
                       vae::CsvHeader header = vae::CsvHeader::Auto,
                       const std::string& label_column = "") {
  write_bytes(dir.file("data.csv"), text);
  vae::CsvOptions options;
  options.label_column = label_column;
  options.delimiter = delimiter;
  options.header = header;
  return vae::read_csv(dir.file("data.csv"), options);
}

TEST(ReadCsvDelimiter, SniffedFromTheFirstLines) {
  const std::string semi = "a;b;c\n1;2;3\n4;5;6\n", tab = "1\t2\t3\n4\t5\t6\n",
                    space = "  1  2 3\n4 5   6  \n", comma = "1, 2, 3\n4, 5, 6\n";
  for (const std::string* text : {&semi, &tab, &space, &comma}) {
    TempDir dir;
    const vae::Dataset ds = read_with(dir, *text, 0);
    EXPECT_EQ(ds.n, 2u) << *text;
    EXPECT_EQ(ds.x, (std::vector<float>{1, 2, 3, 4, 5, 6})) << *text;
  }
  auto sniff = [](const std::string& t) { return vae::sniff_csv_delimiter(t.data(), t.data() + t.size()); };
  EXPECT_EQ(sniff(semi), ';');
  EXPECT_EQ(sniff(tab), '\t');
  EXPECT_EQ(sniff(space), ' ');
  EXPECT_EQ(sniff(comma), ',');
  EXPECT_EQ(sniff("1\n2\n"), ',');                   // one column
  EXPECT_EQ(sniff("\"a;b\",c\n1,2\n"), ',');       // a ';' inside quotes does not count
  EXPECT_EQ(sniff("1;2\n3;4;5\n"), ',');             // no delimiter splits every line alike
}

TEST(ReadCsvDelimiter, GivenDelimiterKeepsEmptyTabFields) {
  TempDir dir;
  // With tab given, an empty field between two tabs is a field (and so an error naming it).
  EXPECT_NE(vae_test::error_of([&] { read_with(dir, "1\t\t3\n", '\t', vae::CsvHeader::No); })
                .find(":1: column 2: '' is not a number"),
            std::string::npos);
  const vae::Dataset ds = read_with(dir, "1 ;2\n 3; 4\n", ';');
  EXPECT_EQ(ds.x, (std::vector<float>{1, 2, 3, 4}));
}

TEST(ReadCsvDelimiter, AWrongDelimiterIsNamedWithAHint) {
  TempDir dir;
  const std::string p = dir.file("data.csv");
  const std::string m = vae_test::error_of([&] { read_with(dir, "1;2\n3;4\n", ',', vae::CsvHeader::No); });
  EXPECT_EQ(m, p + ":1: column 1: '1;2' is not a number (fields are separated by ','; if this "
                   "file uses ';', set delimiter to ;)");
  const std::string s = vae_test::error_of([&] { read_with(dir, "1 2\n3 4\n", ',', vae::CsvHeader::No); });
  EXPECT_NE(s.find("set delimiter to space"), std::string::npos) << s;
  EXPECT_EQ(vae::parse_csv_delimiter("tab"), '\t');
  EXPECT_EQ(vae::csv_delimiter_name(' '), "space");
  try {
    vae::parse_csv_delimiter("|");
    ADD_FAILURE() << "parsed '|'";
  } catch (const vae::FieldError& e) {
    EXPECT_EQ(e.field(), "delimiter");
  }
}

TEST(ReadCsvHeader, YesNoAndAuto) {
  TempDir dir;
  // A numeric header (pixel indexes) reads as data under auto, as a header under yes.
  EXPECT_EQ(read_with(dir, "0,1\n5,6\n", 0).n, 2u);
  const vae::Dataset yes = read_with(dir, "0,1\n5,6\n", 0, vae::CsvHeader::Yes);
  EXPECT_EQ(yes.n, 1u);
  EXPECT_EQ(yes.x, (std::vector<float>{5, 6}));
  // no: a first line of text is data, so an error naming line 1.
  EXPECT_NE(vae_test::error_of([&] { read_with(dir, "a,b\n5,6\n", 0, vae::CsvHeader::No); })
                .find(":1: column 1: 'a' is not a number"),
            std::string::npos);
  EXPECT_EQ(vae::parse_csv_header("yes"), vae::CsvHeader::Yes);
  EXPECT_THROW(vae::parse_csv_header("maybe"), vae::FieldError);
}

TEST(ReadCsvLabels, ClassNamesAreNumberedInSortedOrder) {
  TempDir dir;
  const vae::Dataset ds =
      read_with(dir, "x;species\n1;setosa\n2;virginica\n3;versicolor\n4;setosa\n", 0,
                vae::CsvHeader::Auto, "species");
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
  EXPECT_EQ(ds.labels, (std::vector<int32_t>{0, 2, 1, 0}));
  EXPECT_EQ(ds.x, (std::vector<float>{1, 2, 3, 4}));
  // By index without a header: a name in the label column does not make the first row a header.
  const vae::Dataset idx = read_with(dir, "cat 1 2\ndog 3 4\n", 0, vae::CsvHeader::Auto, "0");
  EXPECT_EQ(idx.n, 2u);
  EXPECT_EQ(idx.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(idx.x, (std::vector<float>{1, 2, 3, 4}));
  // Numeric labels carry no names.
  EXPECT_TRUE(read_with(dir, "1,0\n2,1\n", 0, vae::CsvHeader::Auto, "1").class_names.empty());
}

}  // namespace
