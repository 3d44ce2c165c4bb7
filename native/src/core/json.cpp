#include "kvr/json.hpp"

#include <clocale>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kvr/error.hpp"

namespace kvr::json {

namespace {

const char* type_name(Value::Type type) {
  switch (type) {
    case Value::Type::Null: return "null";
    case Value::Type::Bool: return "a boolean";
    case Value::Type::Number: return "a number";
    case Value::Type::String: return "a string";
    case Value::Type::Array: return "an array";
    case Value::Type::Object: return "an object";
  }
  return "a value";
}

[[noreturn]] void wrong_type(const char* what, const char* expected, Value::Type got) {
  KVR_FAIL(ErrorCode::InvalidArgument,
           std::string(what) + ": expected " + expected + " (got " + type_name(got) + ")");
}

// printf and strtod follow the C locale's decimal point, which a host program (e.g. Node with
// some ICU setups, or a caller of setlocale) may have changed; JSON always uses '.'.
char locale_decimal_point() {
  const char* point = std::localeconv()->decimal_point;
  return (point != nullptr && point[0] != '\0') ? point[0] : '.';
}

}  // namespace

// --- Value ---------------------------------------------------------------------------------------

Value::Value() : type_(Type::Null) {}
Value::Value(std::nullptr_t) : type_(Type::Null) {}
Value::Value(bool b) : type_(Type::Bool), bool_(b) {}
Value::Value(double d) : type_(Type::Number), number_(d) {}
Value::Value(int i) : type_(Type::Number), number_(i) {}
Value::Value(int64_t i) : type_(Type::Number), number_(static_cast<double>(i)) {}
Value::Value(uint64_t i) : type_(Type::Number), number_(static_cast<double>(i)) {}
Value::Value(const char* s) : type_(Type::String), string_(std::make_shared<const std::string>(s)) {}
Value::Value(std::string s) : type_(Type::String), string_(std::make_shared<const std::string>(std::move(s))) {}
Value::Value(Array a) : type_(Type::Array), array_(std::make_shared<Array>(std::move(a))) {}
Value::Value(Object o) : type_(Type::Object), object_(std::make_shared<Object>(std::move(o))) {}

bool Value::as_bool(const char* what) const {
  if (type_ != Type::Bool) wrong_type(what, "a boolean", type_);
  return bool_;
}

double Value::as_number(const char* what) const {
  if (type_ != Type::Number) wrong_type(what, "a number", type_);
  return number_;
}

int64_t Value::as_int(const char* what) const {
  if (type_ != Type::Number) wrong_type(what, "an integer", type_);
  // 2^63 is exactly representable; every double in [-2^63, 2^63) converts without overflow.
  const bool integral = std::isfinite(number_) && std::trunc(number_) == number_;
  if (!integral || number_ < -9223372036854775808.0 || number_ >= 9223372036854775808.0) {
    KVR_FAIL(ErrorCode::InvalidArgument, std::string(what) + ": expected an integer (got " + stringify(*this) + ")");
  }
  return static_cast<int64_t>(number_);
}

const std::string& Value::as_string(const char* what) const {
  if (type_ != Type::String) wrong_type(what, "a string", type_);
  return *string_;
}

const Value::Array& Value::as_array(const char* what) const {
  if (type_ != Type::Array) wrong_type(what, "an array", type_);
  return *array_;
}

const Value::Object& Value::as_object(const char* what) const {
  if (type_ != Type::Object) wrong_type(what, "an object", type_);
  return *object_;
}

// Copies share their array/object storage; a mutation first takes a private copy so it never
// shows through another Value.
Value::Array& Value::array() {
  if (type_ == Type::Null) {
    type_ = Type::Array;
    array_ = std::make_shared<Array>();
  }
  if (type_ != Type::Array) wrong_type("value", "an array", type_);
  if (array_.use_count() > 1) array_ = std::make_shared<Array>(*array_);
  return *array_;
}

Value::Object& Value::object() {
  if (type_ == Type::Null) {
    type_ = Type::Object;
    object_ = std::make_shared<Object>();
  }
  if (type_ != Type::Object) wrong_type("value", "an object", type_);
  if (object_.use_count() > 1) object_ = std::make_shared<Object>(*object_);
  return *object_;
}

const Value* Value::find(std::string_view key) const {
  if (type_ != Type::Object) return nullptr;
  // From the back: with duplicate keys the last one wins, as in JSON.parse.
  for (auto it = object_->rbegin(); it != object_->rend(); ++it) {
    if (it->first == key) return &it->second;
  }
  return nullptr;
}

const Value& Value::at(std::string_view key) const {
  const Value* found = find(key);
  if (found == nullptr) KVR_FAIL(ErrorCode::InvalidArgument, "missing field " + std::string(key));
  return *found;
}

Value& Value::set(std::string key, Value value) {
  Object& fields = object();
  for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
    if (it->first == key) {
      it->second = std::move(value);
      return it->second;
    }
  }
  fields.emplace_back(std::move(key), std::move(value));
  return fields.back().second;
}

void Value::push(Value value) { array().push_back(std::move(value)); }

// --- parser --------------------------------------------------------------------------------------

namespace {

constexpr int kMaxDepth = 256;

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Value document() {
    skip_space();
    Value value = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("expected end of input");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& expected) const { fail_at(pos_, expected); }
  [[noreturn]] void fail_at(size_t offset, const std::string& expected) const {
    KVR_FAIL(ErrorCode::InvalidArgument, "invalid JSON at byte " + std::to_string(offset) + ": " + expected);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_space() {
    while (!at_end()) {
      const char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  void expect_literal(const char* literal) {
    const size_t length = std::strlen(literal);
    if (text_.compare(pos_, length, literal) != 0) fail(std::string("expected ") + literal);
    pos_ += length;
  }

  Value parse_value(int depth) {
    if (at_end()) fail("expected a value, got end of input");
    switch (peek()) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"': return Value(parse_string());
      case 't': expect_literal("true"); return Value(true);
      case 'f': expect_literal("false"); return Value(false);
      case 'n': expect_literal("null"); return Value();
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return Value(parse_number());
        fail("expected a value");
    }
  }

  Value parse_array(int depth) {
    if (depth > kMaxDepth) fail("expected nesting at most " + std::to_string(kMaxDepth) + " deep");
    ++pos_;  // '['
    Value::Array items;
    skip_space();
    if (peek() == ']') {
      ++pos_;
      return Value(std::move(items));
    }
    for (;;) {
      skip_space();
      items.push_back(parse_value(depth));
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() == ']') {
        ++pos_;
        return Value(std::move(items));
      } else {
        fail("expected ',' or ']'");
      }
    }
  }

  Value parse_object(int depth) {
    if (depth > kMaxDepth) fail("expected nesting at most " + std::to_string(kMaxDepth) + " deep");
    ++pos_;  // '{'
    Value::Object fields;
    skip_space();
    if (peek() == '}') {
      ++pos_;
      return Value(std::move(fields));
    }
    for (;;) {
      skip_space();
      if (peek() != '"') fail("expected a string key");
      std::string key = parse_string();
      skip_space();
      if (peek() != ':') fail("expected ':'");
      ++pos_;
      skip_space();
      Value value = parse_value(depth);
      // Duplicates are kept; find() returns the last, as JSON.parse does. Replacing here would
      // make parsing quadratic in the number of keys.
      fields.emplace_back(std::move(key), std::move(value));
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() == '}') {
        ++pos_;
        return Value(std::move(fields));
      } else {
        fail("expected ',' or '}'");
      }
    }
  }

  unsigned parse_hex4() {
    if (text_.size() - pos_ < 4) fail("expected 4 hex digits after \\u");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_];
      unsigned digit;
      if (c >= '0' && c <= '9') digit = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') digit = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') digit = static_cast<unsigned>(c - 'A' + 10);
      else fail("expected a hex digit");
      code = code * 16 + digit;
      ++pos_;
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  // Called at the opening quote.
  std::string parse_string() {
    const size_t opening = pos_;
    ++pos_;
    std::string out;
    for (;;) {
      if (at_end()) fail_at(opening, "unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("expected an escaped control character in string");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      const size_t escape = pos_;
      ++pos_;
      if (at_end()) fail_at(opening, "unterminated string");
      const char kind = text_[pos_++];
      switch (kind) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned code = parse_hex4();
          if (code >= 0xDC00 && code <= 0xDFFF) fail_at(escape, "expected a high surrogate before a low one");
          if (code >= 0xD800 && code <= 0xDBFF) {
            if (text_.compare(pos_, 2, "\\u") != 0) fail("expected a low surrogate \\uDC00-\\uDFFF");
            pos_ += 2;
            const unsigned low = parse_hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail_at(pos_ - 6, "expected a low surrogate \\uDC00-\\uDFFF");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, code);
          break;
        }
        default:
          fail_at(escape, "expected a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
      }
    }
  }

  bool digit_at(size_t i) const { return i < text_.size() && text_[i] >= '0' && text_[i] <= '9'; }

  double parse_number() {
    const size_t start = pos_;
    bool negative = false;
    if (peek() == '-') {
      negative = true;
      ++pos_;
    }
    if (!digit_at(pos_)) fail("expected a digit");
    if (peek() == '0') {
      ++pos_;
      if (digit_at(pos_)) fail("expected no leading zeros");
    } else {
      while (digit_at(pos_)) ++pos_;
    }
    bool integral = true;
    if (peek() == '.') {
      integral = false;
      ++pos_;
      if (!digit_at(pos_)) fail("expected a digit after '.'");
      while (digit_at(pos_)) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!digit_at(pos_)) fail("expected a digit in the exponent");
      while (digit_at(pos_)) ++pos_;
    }
    const size_t digits_start = negative ? start + 1 : start;
    // Fast exact path for the common case (plans are mostly integers): up to 18 digits fit in
    // uint64 and convert to the correctly rounded double.
    if (integral && pos_ - digits_start <= 18) {
      uint64_t magnitude = 0;
      for (size_t i = digits_start; i < pos_; ++i) magnitude = magnitude * 10 + static_cast<uint64_t>(text_[i] - '0');
      const double value = static_cast<double>(magnitude);
      return negative ? -value : value;
    }
    std::string buffer(text_.substr(start, pos_ - start));
    const char point = locale_decimal_point();
    if (point != '.') {
      for (char& c : buffer) {
        if (c == '.') c = point;
      }
    }
    char* end = nullptr;
    const double value = std::strtod(buffer.c_str(), &end);
    if (end != buffer.c_str() + buffer.size()) fail_at(start, "expected a number");
    if (!std::isfinite(value)) fail_at(start, "expected a number within double range");
    return value;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// --- writer --------------------------------------------------------------------------------------

void write_number(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  char buffer[40];
  // Integers up to 2^53 are exact; print them without a fraction or exponent.
  if (std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0) {
    std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(d));
    out += buffer;
    return;
  }
  std::snprintf(buffer, sizeof buffer, "%.17g", d);
  const char point = locale_decimal_point();
  for (char* c = buffer; *c != '\0'; ++c) {
    if (*c == point) *c = '.';
  }
  out += buffer;
}

void write_string(std::string& out, const std::string& s) {
  static const char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20) {
          out += "\\u00";
          out += kHex[byte >> 4];
          out += kHex[byte & 0xF];
        } else {
          out += c;
        }
      }
    }
  }
  out += '"';
}

// Depth is bounded by construction for parsed values; values built in code are shallow.
void write_value(std::string& out, const Value& value) {
  switch (value.type()) {
    case Value::Type::Null: out += "null"; break;
    case Value::Type::Bool: out += value.as_bool() ? "true" : "false"; break;
    case Value::Type::Number: write_number(out, value.as_number()); break;
    case Value::Type::String: write_string(out, value.as_string()); break;
    case Value::Type::Array: {
      out += '[';
      bool first = true;
      for (const Value& item : value.as_array()) {
        if (!first) out += ',';
        first = false;
        write_value(out, item);
      }
      out += ']';
      break;
    }
    case Value::Type::Object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : value.as_object()) {
        if (!first) out += ',';
        first = false;
        write_string(out, key);
        out += ':';
        write_value(out, item);
      }
      out += '}';
      break;
    }
  }
}

}  // namespace

Value parse(std::string_view text) { return Parser(text).document(); }

std::string stringify(const Value& value) {
  std::string out;
  write_value(out, value);
  return out;
}

}  // namespace kvr::json
