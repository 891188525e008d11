# The schema file: MySQL's comments, a backticked name holding a quote.
CREATE TABLE counts (n INT NOT NULL); -- one row, counted up below
INSERT INTO counts (n) VALUES (3--1); # 3 minus minus 1: `--1` is no comment
