// A small JSON value, parser and writer: enough for plans in and measurements out, with error
// messages that give the byte offset of a syntax error.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kvr::json {

class Value {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };
  using Array = std::vector<Value>;
  // Keys keep insertion order for output; lookups are linear (objects here are small).
  using Object = std::vector<std::pair<std::string, Value>>;

  Value();                      // null
  Value(std::nullptr_t);        // null
  Value(bool b);
  Value(double d);
  Value(int i);
  Value(int64_t i);
  Value(uint64_t i);
  Value(const char* s);
  Value(std::string s);
  Value(Array a);
  Value(Object o);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  // Typed access; throws kvr::Error(InvalidArgument) naming `what` when the type is wrong.
  bool as_bool(const char* what = "value") const;
  double as_number(const char* what = "value") const;
  // A number that is an exact integer in int64 range.
  int64_t as_int(const char* what = "value") const;
  const std::string& as_string(const char* what = "value") const;
  const Array& as_array(const char* what = "value") const;
  const Object& as_object(const char* what = "value") const;
  Array& array();    // converts null to an empty array
  Object& object();  // converts null to an empty object

  // Object lookup: nullptr when absent (or when this is not an object).
  const Value* find(std::string_view key) const;
  // Object lookup that throws kvr::Error(InvalidArgument) "missing field <key>" when absent.
  const Value& at(std::string_view key) const;
  // Appends or replaces a field of an object (converts null to an object).
  Value& set(std::string key, Value value);
  // Appends to an array (converts null to an array).
  void push(Value value);

 private:
  Type type_;
  bool bool_ = false;
  double number_ = 0;
  std::shared_ptr<const std::string> string_;
  std::shared_ptr<Array> array_;
  std::shared_ptr<Object> object_;
};

// Parses a whole document; throws kvr::Error(InvalidArgument) "invalid JSON at byte N: ..." on
// bad input. Depth is limited (no stack overflow on hostile input).
Value parse(std::string_view text);

// Compact JSON. Numbers that are integers print without a fraction; others with 17 significant
// digits (round-trips doubles). Non-finite numbers print as null.
std::string stringify(const Value& value);

}  // namespace kvr::json
