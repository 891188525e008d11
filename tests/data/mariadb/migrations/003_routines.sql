# A procedure and a trigger hold semicolons: DELIMITER blocks, as mysqldump writes them.
DELIMITER //
CREATE PROCEDURE add_person(IN who VARCHAR(40))
BEGIN
  INSERT INTO `o'brien` (name) VALUES (who);
  UPDATE counts SET n = n + 1;
END //
CREATE TRIGGER `o'brien_nick` BEFORE INSERT ON `o'brien` FOR EACH ROW
BEGIN
  IF NEW.nick IS NULL THEN
    SET NEW.nick = LEFT(NEW.name, 3);
  END IF;
END//
DELIMITER ;
CALL add_person('o''malley');
