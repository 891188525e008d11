/* An executable comment's body is SQL the server runs; a plain one is not. */
/*!40101 SET @clockwork_saved_mode = @@sql_mode */;
/*!50003 ALTER TABLE `o'brien` ADD COLUMN nick VARCHAR(20) NULL */;
/* ALTER TABLE `o'brien` ADD COLUMN never_added INT; */
