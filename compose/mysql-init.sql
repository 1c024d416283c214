-- The source's user: replication, the snapshot's lock, and the demo database.
CREATE USER IF NOT EXISTS 'cdc'@'%' IDENTIFIED BY 'cdc-demo-only';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, RELOAD, LOCK TABLES, SELECT ON *.* TO 'cdc'@'%';
GRANT ALL PRIVILEGES ON shop.* TO 'cdc'@'%';
