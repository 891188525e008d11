# it's a MySQL comment: its quote opens nothing
-- and so is this one; its semicolon ends nothing
CREATE TABLE `o'brien` (
  id INT AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(40) NOT NULL DEFAULT 'o''brien', -- a doubled quote
  motto VARCHAR(40) NOT NULL DEFAULT 'it\'s; fine' /* a backslash-escaped quote */
);
INSERT INTO `o'brien` (name) VALUES ('o''brien'), ('d\'arcy');
